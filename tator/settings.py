"""Process settings, read once from `TATOR_*` environment variables by the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Everything the server can be told. Services receive plain values from it, never the object."""

    model_config = SettingsConfigDict(env_prefix="TATOR_", extra="ignore", frozen=True, env_ignore_empty=True)

    # Where data lives. uploads/ and logs/ sit under data_dir (the repo root by default).
    data_dir: Path = REPO_ROOT
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"

    # Models.
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    model_zoo: Literal["hub", "tiny"] = "hub"
    # Downloads of missing weights on first use are the libraries' normal behaviour and on by default;
    # TATOR_OFFLINE=1 (tests, CI, air-gapped hosts) sets their offline switches instead.
    offline: bool = False
    # Resident models (least recently used evicted): no count bound by default; their bytes stay within
    # model_memory_fraction of each device's memory (a GPU's total, the host's RAM within its cgroup limit),
    # or within model_memory_budget_mb in all when that is set.
    max_loaded_models: int = Field(default=0, ge=0)  # 0 = no count bound
    model_memory_budget_mb: int = Field(default=0, ge=0)  # 0 = per device, by model_memory_fraction
    model_memory_fraction: float = Field(default=0.7, gt=0, le=1)
    model_lock_timeout_s: float = Field(default=30.0, gt=0)
    # Fixed glibc malloc thresholds so forward passes reuse heap pages instead of page-faulting fresh ones
    # (tator/runtime/heap.py; 14 ms of a CPU predict on the development machine).
    heap_tuning: bool = True

    # Jobs.
    jobs_per_gpu: int = Field(default=1, ge=1)
    cpu_job_workers: int = Field(default=1, ge=1)
    job_log_lines: int = Field(default=300, ge=10)

    # Job executor: thread (jobs run in this process) or ray (on a Ray cluster; see docs/scale-out.md).
    executor: Literal["thread", "ray"] = "thread"
    ray_address: str = "local"  # local: a Ray instance sized to this machine; else the cluster's address
    ray_max_jobs: int = Field(default=64, ge=1)  # jobs handed to the cluster at once (Ray queues the rest)
    test_kill_at: str | None = None  # crash tests only: SIGKILL the server at a named job step

    # Request limits.
    max_upload_bytes: int = Field(default=20 * 1024 * MiB, ge=1)
    image_max_bytes: int = Field(default=100 * MiB, ge=1)
    max_json_bytes: int | None = Field(default=None, ge=1)  # any non-upload body; None: a base64 image + 16 MiB
    image_max_pixels: int = Field(default=100_000_000, ge=1)
    image_cache_bytes: int = Field(default=1024 * MiB, ge=0)
    image_cache_entries: int = Field(default=32, ge=1)

    # SAM / SAM3: per-(image, model) embeddings reused by every prompt, and the preload slots.
    sam_max_predictors: int = Field(default=3, ge=1, le=3)
    sam_embedding_cache_entries: int = Field(default=8, ge=1)
    sam_embedding_cache_mb: int = Field(default=2048, ge=1)
    # Qwen VLM (issue 11).
    qwen_base_model: str | None = None  # HF id or local dir; default: the zoo's base (Qwen3-VL-4B-Instruct on hub)
    qwen_extra_models: list[str] = Field(default_factory=list)  # more base models listed by /qwen/models
    qwen_max_new_tokens: int = Field(default=512, ge=1, le=32768)  # default per call
    qwen_max_new_tokens_limit: int = Field(default=4096, ge=1, le=32768)  # hard cap a request cannot exceed
    qwen_generation_timeout_s: float = Field(default=300.0, gt=0)  # wall clock per generation
    qwen_min_pixels: int = Field(default=256 * 28 * 28, ge=1)
    qwen_max_pixels: int = Field(default=1280 * 28 * 28, ge=1)
    qwen_max_caption_windows: int = Field(default=16, ge=1, le=256)
    # Classifier heads: the embedding cache under uploads/clip_uploads/embeddings (least recently used evicted).
    clip_embedding_cache_bytes: int = Field(default=10 * 1024 * MiB, ge=0)  # 0 = cache nothing
    # Consistency (issue 17 / issue 8): how long a deleted dataset stays in the trash before removal.
    dataset_trash_retention_s: float = Field(default=7 * 24 * 3600.0, ge=0)
    # Agent mining (issue 13): the per-image SAM3 answer cache under uploads/agent_mining/cache.
    agent_mining_cache_max_bytes: int = Field(default=80 * 1024 * MiB, ge=0)
    agent_mining_cache_ttl_hours: float = Field(default=7 * 24.0, ge=0)  # 0 = no age limit

    # HTTP.
    api_token: str | None = None
    cors_origins: list[str] = Field(default_factory=list)  # empty = localhost/127.0.0.1 on any port
    cors_allow_null_origin: bool = False  # pages opened from file:// send Origin: null
    ui_dir: Path | None = None
    # uvicorn's C HTTP parser and event loop (`python -m tator`); h11 / asyncio are the pure-Python ones.
    http_impl: Literal["httptools", "h11"] = "httptools"
    loop_impl: Literal["uvloop", "asyncio"] = "uvloop"

    # Hardening (issue 15): what one hostile client may make the server do.
    allowed_hosts: list[str] = Field(default_factory=list)  # Host names besides loopback ones ("*" = any)
    legacy_head_memory_mb: int = Field(default=2048, ge=256)  # address space of the child reading a .pkl head
    legacy_head_timeout_s: float = Field(default=60.0, gt=0)
    max_windows_per_request: int = Field(default=1024, ge=1)  # windowed (sliced) predict plans at most this
    zip_max_extracted_bytes: int = Field(default=32 * 1024 * MiB, ge=1)  # one archive, all members together
    decode_pixel_budget: int = Field(default=200_000_000, ge=1)  # pixels being decoded at once, all requests
    decode_wait_s: float = Field(default=30.0, ge=0)  # then 503 decode_busy

    # Recipe and cascade bundles (issues 12, 13): one zip, checked whole before anything is installed.
    bundle_max_bytes: int = Field(default=2048 * MiB, ge=1)  # the archive as uploaded
    bundle_max_extracted_bytes: int = Field(default=4096 * MiB, ge=1)  # all members together
    bundle_max_entry_bytes: int = Field(default=1024 * MiB, ge=1)  # one member
    bundle_max_members: int = Field(default=20_000, ge=2)

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        value = value.strip().lower()
        if value in {"auto", "cpu", "cuda"} or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError("device must be auto, cpu, cuda or cuda:N")

    @field_validator("data_dir", "ui_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def database_path(self) -> Path:
        return self.uploads_dir / "tator.sqlite3"
