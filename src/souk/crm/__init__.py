"""Leads, stages, scores, activities, posts, ad campaigns and attribution."""
