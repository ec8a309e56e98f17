"""Rows of the matrix's "System / Runtime" section, plus the generic job and metrics routes."""

from __future__ import annotations

from validation.context import Row, ValidationContext


def check_gpu(ctx: ValidationContext) -> str:
    body = ctx.http.get("/system/gpu").raise_for_status().json()
    assert {"available", "device_count", "devices"} <= set(body), body
    assert body["device_count"] == len(body["devices"])
    return f"available={body['available']} devices={body['device_count']}"


def check_storage(ctx: ValidationContext) -> str:
    body = ctx.http.get("/system/storage_check").raise_for_status().json()
    assert body["ok"] is True, [r for r in body["roots"] if not r["ok"]]
    return f"{len(body['roots'])} roots writable"


def check_health_summary(ctx: ValidationContext) -> str:
    body = ctx.http.get("/system/health_summary").raise_for_status().json()
    assert {"ok", "gpu", "storage", "datasets", "models", "errors"} <= set(body), sorted(body)
    assert body["ok"] is True, body["errors"]
    return f"ok datasets={body['datasets']['count']}"


def check_jobs_routes(ctx: ValidationContext) -> str:
    listing = ctx.http.get("/jobs").raise_for_status().json()
    assert {"items", "total"} <= set(listing)
    missing = ctx.http.get("/jobs/does-not-exist")
    assert missing.status_code == 404 and missing.json()["detail"] == "job_not_found", missing.text
    refused = ctx.http.post("/jobs/does-not-exist/cancel")
    assert refused.status_code == 404, refused.text
    return f"{listing['total']} jobs listed; unknown id -> 404 job_not_found"


def check_metrics(ctx: ValidationContext) -> str:
    text = ctx.http.get("/metrics").raise_for_status().text
    assert "tator_http_requests_total" in text and "tator_jobs_active" in text
    return "prometheus text served"


def check_unload_after_heavy_load(ctx: ValidationContext) -> str:
    base = ctx.http.get("/models/base").raise_for_status().json()
    assert {"yolo", "rfdetr", "sam3", "clip", "dinov3", "qwen"} <= set(base), base
    for family in ("yolo", "qwen"):
        ctx.http.post("/models/preload", json={"family": family}).raise_for_status()
    resident = ctx.http.get("/models").raise_for_status().json()
    assert resident["total"] >= 2, resident
    loaded_mb = sum(item["bytes"] for item in resident["items"]) / 2**20
    body = ctx.http.post("/runtime/unload").raise_for_status().json()
    assert body["status"] == "unloaded" and len(body["unloaded"]) >= 2, body
    after = ctx.http.get("/models").raise_for_status().json()
    assert after["total"] == 0, after
    return f"YOLO + Qwen loaded ({loaded_mb:.1f} MB), unloaded {len(body['unloaded'])}; 0 resident after"


ROWS: list[Row] = [
    ("System / Runtime", "`/system/gpu`", check_gpu),
    ("System / Runtime", "`/system/storage_check`", check_storage),
    ("System / Runtime", "`/system/health_summary`", check_health_summary),
    ("System / Runtime", "`/runtime/unload`", check_unload_after_heavy_load),
    ("System / Runtime", "`/jobs` list/get/cancel (one job manager)", check_jobs_routes),
    ("System / Runtime", "`/metrics` (Prometheus)", check_metrics),
]
