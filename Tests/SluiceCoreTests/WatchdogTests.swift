import SluiceCore
import Testing

@Suite("Watchdog: timeouts, stalls, loops and tokens burned without progress")
struct WatchdogTests {
    let limits = WatchdogLimits(
        timeoutSeconds: 100, stallSeconds: 10, burnSeconds: 30, loopRepeats: 5, maxOutputBytes: 1000)

    @Test("output or a workspace change keeps an agent from stalling; silence and no change stall it")
    func stall() {
        var dog = Watchdog(limits: limits, startedAt: 0)
        #expect(dog.verdict(at: 9) == .running)
        dog.output(bytes: 3, at: 9)
        #expect(dog.verdict(at: 18) == .running)
        dog.workspaceChanged(at: 18)
        #expect(dog.verdict(at: 27) == .running)
        #expect(dog.verdict(at: 28) == .stalled(seconds: 10))
        #expect(dog.verdict(at: 28).reason?.hasPrefix("stalled:") == true)
    }

    @Test("the timeout counts running time only: paused time is not counted, and a paused agent is not judged")
    func timeoutAndPause() {
        var dog = Watchdog(limits: WatchdogLimits(timeoutSeconds: 100, stallSeconds: 0, burnSeconds: 0), startedAt: 0)
        dog.paused(true, at: 50)
        #expect(dog.verdict(at: 500) == .running)
        dog.paused(false, at: 500)
        #expect(dog.verdict(at: 549) == .running)
        #expect(dog.verdict(at: 550) == .timedOut(seconds: 100))
    }

    @Test("the same line, or the same block of lines, repeated loopRepeats times is a loop; blank lines do not count")
    func loops() {
        var single = Watchdog(limits: limits, startedAt: 0)
        for _ in 0..<4 { single.line("retrying…") }
        for _ in 0..<10 { single.line("   ") }
        #expect(single.verdict(at: 1) == .running)
        single.line("retrying…")
        #expect(single.verdict(at: 1) == .looping(period: 1, line: "retrying…"))

        var block = Watchdog(limits: limits, startedAt: 0)
        for _ in 0..<4 { for line in ["a", "b", "c"] { block.line(Substring(line)) } }
        block.line("a")
        block.line("b")
        #expect(block.verdict(at: 1) == .running)
        block.line("c")
        #expect(block.verdict(at: 1) == .looping(period: 3, line: "c"))

        var varied = Watchdog(limits: limits, startedAt: 0)
        for index in 0..<100 { varied.line(Substring("test_\(index) PASSED")) }
        #expect(varied.verdict(at: 1) == .running)
    }

    @Test("tokens spent with no workspace change for burnSeconds burn; a change resets the count")
    func burn() {
        var dog = Watchdog(limits: WatchdogLimits(timeoutSeconds: 0, stallSeconds: 0, burnSeconds: 30), startedAt: 0)
        dog.tokensSpent(100)
        #expect(dog.verdict(at: 29) == .running)
        dog.workspaceChanged(at: 29)
        #expect(dog.verdict(at: 58) == .running)
        dog.tokensSpent(150)
        #expect(dog.verdict(at: 59) == .burning(seconds: 30, tokens: 50))
        // No tokens spent since the change: not burning, however long.
        var idle = Watchdog(limits: WatchdogLimits(timeoutSeconds: 0, stallSeconds: 0, burnSeconds: 30), startedAt: 0)
        #expect(idle.verdict(at: 1000) == .running)
        idle.tokensSpent(0)
        #expect(idle.verdict(at: 1000) == .running)
    }

    @Test("more output than the limit stops the agent")
    func outputLimit() {
        var dog = Watchdog(limits: limits, startedAt: 0)
        dog.output(bytes: 1000, at: 1)
        #expect(dog.verdict(at: 1) == .running)
        dog.output(bytes: 1, at: 1)
        #expect(dog.verdict(at: 1) == .outputLimit(bytes: 1000))
    }
}
