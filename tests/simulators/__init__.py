"""Wire simulators of the other provider APIs (Gemini, Mistral, batch), for tests and benchmarks only."""
