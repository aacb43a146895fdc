/// Removal from an open-addressing table with linear probing, without tombstones, so that the
/// table never fills with dead entries however many keys come and go: empties `gap` and moves
/// back every later entry of the same run that may sit there (its home is not cyclically within
/// (gap, slot]), so that every key stays reachable from its home without crossing an empty slot
/// (Knuth's algorithm R, TAOCP 6.4). `mask` is the table's capacity, a power of two, less one.
func closeLinearProbingGap<Entry>(
    at gap: Int, in entries: UnsafeMutablePointer<Entry>, mask: Int,
    isEmpty: (Entry) -> Bool, home: (Entry) -> Int, empty: (inout Entry) -> Void
) {
    var gap = gap
    var slot = gap
    while true {
        empty(&entries[gap])
        while true {
            slot = (slot + 1) & mask
            if isEmpty(entries[slot]) {
                return
            }
            let home = home(entries[slot])
            let stays = gap <= slot ? (gap < home && home <= slot) : (gap < home || home <= slot)
            if !stays {
                break
            }
        }
        entries[gap] = entries[slot]
        gap = slot
    }
}
