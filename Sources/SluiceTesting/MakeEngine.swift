import SluiceCore
import SluiceEngine
import SluiceStore

/// An engine over a given storage with the system clock, for tests that open their own storage.
public func makeEngine(over storage: any Storage, actor: String = "test") -> Engine {
    Engine(EngineContext(storage: storage, actor: actor))
}
