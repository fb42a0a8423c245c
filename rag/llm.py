"""Placeholder replaced below."""
def make_llm_answerer(settings):
    return None
