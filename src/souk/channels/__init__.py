"""The channel aggregate (seed 004) with seed 002's vendor: the gateway for all external communication."""
