import ForkServer
import Glibc
import Testing

/// The server's table of running children, against a Dictionary doing the same.
@Suite struct ChildTableTests {
    private func child(_ pid: pid_t) -> RunningChild {
        RunningChild(started: UInt64(pid) * 1000, source: nil, counters: pid % 7)
    }

    @Test func pidsThatShareAHomeSlotAreAllFoundAndRemovedInAnyOrder() throws {
        let table = try ChildTable(maxChildren: 8)
        // A table for 8 children has 16 slots: these pids share slot 3, and the run wraps.
        let crowded: [pid_t] = [3, 19, 35, 51, 15, 31]
        for pid in crowded {
            table.insert(child(pid), pid: pid)
        }
        #expect(table.count == crowded.count)
        #expect(Set(table.pids) == Set(crowded))
        for pid in [19, 15, 3] as [pid_t] {
            #expect(table.remove(pid)?.started == UInt64(pid) * 1000)
        }
        #expect(table.remove(19) == nil)
        #expect(table.remove(0) == nil)
        #expect(table.count == 3)
        #expect(Set(table.pids) == [35, 51, 31])
        for pid in [35, 51, 31] as [pid_t] {
            #expect(table.remove(pid)?.counters == pid % 7)
        }
        #expect(table.isEmpty)
    }

    @Test func twentyThousandRandomForksAndReapsAgreeWithADictionary() throws {
        let limit = 40
        let table = try ChildTable(maxChildren: limit)
        var model: [pid_t: RunningChild] = [:]
        var generator = SystemRandomNumberGenerator()
        var nextPID: pid_t = 300
        for _ in 0..<20_000 {
            if model.count < limit && (model.isEmpty || Bool.random(using: &generator)) {
                // Pids mostly rise, and wrap as the kernel's do.
                nextPID = nextPID >= 4_000_000 ? 300 : nextPID + pid_t.random(in: 1...70, using: &generator)
                guard model[nextPID] == nil else { continue }
                table.insert(child(nextPID), pid: nextPID)
                model[nextPID] = child(nextPID)
            } else {
                let pid = model.keys.randomElement(using: &generator)!
                #expect(table.contains(pid))
                #expect(table.remove(pid)?.started == model.removeValue(forKey: pid)?.started)
                #expect(!table.contains(pid))
                #expect(table.remove(pid) == nil)
            }
            #expect(table.count == model.count)
        }
        #expect(Set(table.pids) == Set(model.keys))
    }
}
