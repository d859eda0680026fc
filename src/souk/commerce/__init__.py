"""Commerce: products, orders and the knowledge base the conversations talk about (seeds 003 and 000)."""
