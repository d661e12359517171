"""Engine adapters: one module per engine, each imported only when ``gym.make`` builds one of its games."""
