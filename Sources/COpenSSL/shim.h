// What the TLS module needs of OpenSSL 3 that Swift cannot import: the macros over SSL_CTX_ctrl
// and SSL_ctrl, and option bits written as expressions, as functions.
#ifndef CFORKSERVER_OPENSSL_SHIM_H
#define CFORKSERVER_OPENSSL_SHIM_H

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
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

/// SSL_set_tlsext_host_name: the name a client sends (SNI); 1 on success. fork-bench's clients.
static inline int CForkServer_SSL_set_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
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

/// SSL_CTX_set_tlsext_ticket_key_evp_cb, a macro: the callback that makes and reads session
/// tickets with the server's own keys (`TicketKeys`) instead of the context's built-in ones.
static inline int CForkServer_SSL_CTX_set_ticket_key_callback(
    SSL_CTX *context, int (*callback)(SSL *, unsigned char *, unsigned char *, EVP_CIPHER_CTX *, EVP_MAC_CTX *, int)
) {
    return (int)SSL_CTX_set_tlsext_ticket_key_evp_cb(context, callback);
}

/// Sets up a ticket's cipher and MAC with one key in nginx's 80-byte layout (name 16, HMAC
/// secret 32, AES key 32): AES-256-CBC with `iv` and HMAC-SHA256, as OpenSSL's own tickets use.
/// When `encrypting`, a fresh random IV is written to `iv` first. 1 on success, 0 on failure
/// (the reason on OpenSSL's error queue).
static inline int CForkServer_ticket_key_setup(
    const unsigned char *key, unsigned char *iv, EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int encrypting
) {
    OSSL_PARAM parameters[2];
    parameters[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    parameters[1] = OSSL_PARAM_construct_end();
    const EVP_CIPHER *aes = EVP_aes_256_cbc();
    if (EVP_MAC_init(mac, key + 16, 32, parameters) != 1) {
        return 0;
    }
    if (encrypting) {
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(aes)) != 1) {
            return 0;
        }
        return EVP_EncryptInit_ex(cipher, aes, NULL, key + 48, iv) == 1;
    }
    return EVP_DecryptInit_ex(cipher, aes, NULL, key + 48, iv) == 1;
}

#endif
