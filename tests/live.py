"""The real app (`python app.py`) and `chroma run` on free loopback ports: from devtools/servers.py, shared with bench/."""

from devtools.servers import ROOT, LiveApp, chroma_server, free_port

__all__ = ["ROOT", "LiveApp", "chroma_server", "free_port"]
