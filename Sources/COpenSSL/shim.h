// What the TLS module needs of OpenSSL 3 that Swift cannot import: the macros over SSL_CTX_ctrl
// and SSL_ctrl, and option bits written as expressions, as functions.
#ifndef CFORKSERVER_OPENSSL_SHIM_H
#define CFORKSERVER_OPENSSL_SHIM_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <string.h>

/// SSL_CTX_set_min_proto_version: TLS1_2_VERSION or TLS1_3_VERSION; 1 on success.
static inline int CForkServer_SSL_CTX_set_min_version(SSL_CTX *context, int version) {
    return (int)SSL_CTX_set_min_proto_version(context, version);
}

/// The modes a non-blocking relay needs: SSL_write may write part of its buffer, and a retried
/// write may pass the same bytes from another address.
static inline void CForkServer_SSL_CTX_set_relay_modes(SSL_CTX *context) {
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

/// A client's EOF without close_notify reads as the end of its data (SSL_ERROR_ZERO_RETURN),
/// as cat(1)'s EOF would, rather than as a protocol error: most clients simply close.
static inline void CForkServer_SSL_CTX_ignore_unexpected_eof(SSL_CTX *context) {
    SSL_CTX_set_options(context, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

/// No server-side session cache: it would live in one child and die with it. Resumption goes
/// through tickets, whose keys every child shares with the context made before the fork.
static inline void CForkServer_SSL_CTX_disable_session_cache(SSL_CTX *context) {
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
}

/// OPENSSL_init_ssl without openssl.cnf: the programs are static, and a configuration that
/// names a provider or engine would have OpenSSL dlopen(3) a shared library into them (a second
/// libc); the server sets what it needs itself. 1 on success.
static inline int CForkServer_OPENSSL_init_without_config(void) {
    return OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

/// SSL_CTX_set_tlsext_servername_callback and its argument: the callback that picks a
/// connection's certificate by the name the client asked for (SNI).
static inline void CForkServer_SSL_CTX_set_servername_callback(SSL_CTX *context, int (*callback)(SSL *, int *, void *), void *argument) {
    SSL_CTX_set_tlsext_servername_callback(context, callback);
    SSL_CTX_set_tlsext_servername_arg(context, argument);
}

/// X509_NAME_print_ex with XN_FLAG_RFC2253 (mod_ssl's SSL_CLIENT_S_DN text), or with
/// XN_FLAG_ONELINE's escaping but in X509_NAME_oneline's slashed form when `oneline` is set
/// (libtls's, which s6 gives as SSL_PEER_CERT_SUBJECT); control characters and bytes beyond
/// ASCII come out escaped, so the text never holds a NUL or a newline. A malloc'd string the
/// caller frees, or NULL when OpenSSL cannot write it.
static inline char *CForkServer_X509_NAME_text(const X509_NAME *name, int oneline) {
    if (oneline) {
        return X509_NAME_oneline(name, NULL, 0);
    }
    BIO *memory = BIO_new(BIO_s_mem());
    if (memory == NULL) {
        return NULL;
    }
    char *text = NULL;
    if (X509_NAME_print_ex(memory, name, 0, XN_FLAG_RFC2253) >= 0) {
        char *data = NULL;
        long length = BIO_get_mem_data(memory, &data);
        text = OPENSSL_malloc((size_t)length + 1);
        if (text != NULL) {
            memcpy(text, data, (size_t)length);
            text[length] = 0;
        }
    }
    BIO_free(memory);
    return text;
}

/// OPENSSL_free, a macro.
static inline void CForkServer_OPENSSL_free(void *pointer) {
    OPENSSL_free(pointer);
}

/// SSL_CTX_get_tlsext_ticket_keys and SSL_CTX_set_tlsext_ticket_keys: the 80 bytes of a
/// context's session-ticket keys (name, HMAC secret, AES key), which a context reloaded with
/// renewed certificates takes over, so that tickets issued before the renewal still resume.
static inline int CForkServer_SSL_CTX_copy_ticket_keys(SSL_CTX *from, SSL_CTX *to) {
    unsigned char keys[80];
    int copied = SSL_CTX_get_tlsext_ticket_keys(from, keys, sizeof keys) == 1
        && SSL_CTX_set_tlsext_ticket_keys(to, keys, sizeof keys) == 1;
    OPENSSL_cleanse(keys, sizeof keys);
    return copied;
}

#endif
