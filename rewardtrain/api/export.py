"""Datasets out of a project, staff only, streamed so the server's memory stays flat.

    curl -H "Authorization: Token $TOKEN" -o pairs.jsonl \\
         "http://127.0.0.1:8000/api/v1/projects/1/export?format=trl&test_fraction=0.1&split=train"
    curl -H "Authorization: Token $TOKEN" "http://127.0.0.1:8000/api/v1/projects/1/export?format=trl&meta=1"

Query parameters are the options of ``rewardtrain.services.export.ExportOptions``: ``format``
(trl, rankings, consensus, csv, parquet), ``pairs``, ``ties``, ``margin``, ``since``, ``until``,
``annotators`` (comma-separated usernames), ``min_agreement``, ``split``, ``test_fraction``, ``seed``,
``weighting`` (none, reliability).
The options go back in the ``X-Export-Options`` header; ``meta=1`` answers the metadata JSON (with
the counts, which takes one pass over the data) instead of the data.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.permissions import IsStaff, project_for_request
from rewardtrain.services.export import (
    CONTENT_TYPES,
    EXTENSIONS,
    FORMATS,
    ExportOptions,
    export_metadata,
    export_parquet,
    export_stats_with_lengths,
    export_stream,
)
from rewardtrain.services.lineage import lineage_export_lines, lineage_export_metadata, model_version_for_export

logger = logging.getLogger(__name__)

# Written when an export fails after its first byte, before the connection is dropped: the response
# then ends without HTTP's last chunk (clients report an incomplete transfer), and whoever saved the
# body anyway finds a last line no JSON or CSV reader takes (the NUL byte), never a shorter dataset.
FAILED_MARK = b"\n\x00EXPORT FAILED: this file is incomplete; the server log says why\n"


def stream_or_fail_visibly(chunks: Iterator[bytes], *, project_id: int) -> Iterator[bytes]:
    try:
        yield from chunks
    except Exception:
        logger.exception("export of project %s failed while streaming", project_id)
        yield FAILED_MARK
        raise


class IgnoreFormatParameter(BaseContentNegotiation):
    """``?format=`` names the dataset format here, not one of DRF's renderers: errors answer JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ProjectExportApi(APIView):
    permission_classes = [IsStaff]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreFormatParameter

    @extend_schema(
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=FORMATS, description="Dataset format (default trl)"),
            OpenApiParameter("pairs", OpenApiTypes.STR, enum=["all", "adjacent", "best_vs_rest"]),
            OpenApiParameter("ties", OpenApiTypes.BOOL, description="Keep tie rows"),
            OpenApiParameter("margin", OpenApiTypes.BOOL, description="trl: margin = rank gap"),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
            OpenApiParameter("annotators", OpenApiTypes.STR, description="Comma-separated usernames"),
            OpenApiParameter("min_agreement", OpenApiTypes.FLOAT),
            OpenApiParameter("split", OpenApiTypes.STR, enum=["all", "train", "test"]),
            OpenApiParameter("test_fraction", OpenApiTypes.FLOAT),
            OpenApiParameter("seed", OpenApiTypes.INT),
            OpenApiParameter(
                "weighting",
                OpenApiTypes.STR,
                enum=["none", "reliability"],
                description="reliability: a weight per ranking from its annotator's reliability",
            ),
            OpenApiParameter(
                "model_version",
                OpenApiTypes.INT,
                description="The records this version was trained on, byte for byte (split: all, train, test)",
            ),
            OpenApiParameter("meta", OpenApiTypes.BOOL, description="Answer the metadata JSON instead of the data"),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, project_id: int):
        project = project_for_request(request, project_id)
        if request.query_params.get("model_version") not in (None, ""):
            return self.model_version_export(request, project)
        options = ExportOptions.from_mapping(request.query_params)
        if request.query_params.get("meta") in ("1", "true", "yes"):
            stats = export_stats_with_lengths(project=project)
            if options.format == "parquet":
                with tempfile.NamedTemporaryFile(suffix=".parquet") as scratch:
                    export_parquet(project=project, options=options, path=scratch.name, stats=stats)
            else:
                for _ in export_stream(project=project, options=options, stats=stats):
                    pass
            return Response(export_metadata(project=project, options=options, stats=stats, seconds=None))

        filename = f"project-{project.pk}-{options.format}.{EXTENSIONS[options.format]}"
        if options.format == "parquet":
            handle = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False)  # noqa: SIM115 - FileResponse closes it
            try:
                handle.close()
                export_parquet(project=project, options=options, path=handle.name)
                data = open(handle.name, "rb")  # noqa: SIM115 - FileResponse closes it
            finally:
                os.unlink(handle.name)  # the open handle keeps the data readable until the response ends
            response = FileResponse(data, content_type=CONTENT_TYPES["parquet"], as_attachment=True, filename=filename)
        else:
            response = StreamingHttpResponse(
                stream_or_fail_visibly(export_stream(project=project, options=options), project_id=project.pk),
                content_type=CONTENT_TYPES[options.format],
            )
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Export-Options"] = json.dumps(options.to_dict())
        return response

    def model_version_export(self, request: Request, project):
        """The records a model version was trained on (checked against its hashes before a byte goes out)."""
        version = model_version_for_export(project=project, number=request.query_params["model_version"])
        split = request.query_params.get("split") or "all"
        split = {"test": "eval"}.get(split, split)
        lines = lineage_export_lines(version=version, split=split)
        meta = lineage_export_metadata(version=version, split=split, lines=len(lines))
        if request.query_params.get("meta") in ("1", "true", "yes"):
            return Response(meta)
        response = HttpResponse("".join(lines).encode(), content_type=CONTENT_TYPES["rankings"])
        filename = f"project-{project.pk}-v{version.version}-{split}.jsonl"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Export-Sha256"] = meta["sha256"] or ""
        return response
