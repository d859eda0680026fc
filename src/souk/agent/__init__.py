"""The AI sales and support agent (seed 003): answers customers from the tenant's catalog, orders and knowledge base."""
