"""Domain services: plain functions that change several models in one transaction."""
