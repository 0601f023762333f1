"""GAP203 listing-without-pagination: a boto3 list call that reads only the first page of results."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext, has_kwargs_splat
from ...analyzer.registry import Docs, Rule
from ..orm.facts import imports_any, is_test_or_migration, origin

RULE = Rule(
    id="GAP203",
    name="listing-without-pagination",
    category="unbounded-query",
    severity="warning",
    precision="high",
    cwe="CWE-20",
    summary="AWS listing call that silently returns only the first page",
    docs=Docs(
        what=(
            "Flags boto3 listing calls that return one page - S3 `list_objects_v2` / `list_objects` /"
            " `list_object_versions` / `list_multipart_uploads`, IAM `list_users/roles/policies/groups`,"
            " DynamoDB `scan` / `query` on a client or Table resource - called directly, with no continuation"
            " argument (`ContinuationToken`, `Marker`, `ExclusiveStartKey`, ...) and in a function that never"
            " reads the continuation field of the response (`IsTruncated`, `NextContinuationToken`,"
            " `LastEvaluatedKey`, ...)."
        ),
        why=(
            "AWS cuts these responses at a page (1,000 S3 keys, 100 IAM users, 1 MB of DynamoDB items) and"
            " says so only in a field nobody reads. The code works in development with 12 objects and silently"
            " ignores everything after the first page in production: files not processed, users not audited."
        ),
        example='resp = s3.list_objects_v2(Bucket="reports", Prefix="2024/")\nkeys = [o["Key"] for o in resp["Contents"]]',
        instead=(
            'paginator = s3.get_paginator("list_objects_v2")\n'
            'keys = [o["Key"] for page in paginator.paginate(Bucket="reports", Prefix="2024/")\n'
            '        for o in page.get("Contents", [])]'
        ),
        not_caught=(
            "Calls that set a page size (`MaxKeys=1` existence checks, `MaxItems`, `Limit`: a small page on"
            " purpose), calls passing `**kwargs` (the token may be inside), a listing whose result is thrown away"
            " (a permission probe) or read only for its first entry (`resp[\"Contents\"][0]`); `while` loops that"
            " page by hand are recognised by the continuation fields they read. Other AWS APIs and other SDKs"
            " (google-cloud, azure) are not covered yet."
        ),
        references=("https://boto3.amazonaws.com/v1/documentation/api/latest/guide/paginators.html",),
    ),
)

# Method -> the argument that continues it.
LISTINGS = {
    "list_objects_v2": "ContinuationToken", "list_objects": "Marker", "list_object_versions": "KeyMarker",
    "list_multipart_uploads": "KeyMarker", "list_users": "Marker", "list_roles": "Marker",
    "list_policies": "Marker", "list_groups": "Marker",
}
DYNAMO_LISTINGS = {"scan": "ExclusiveStartKey", "query": "ExclusiveStartKey"}
CONTINUATION_FIELDS = ("IsTruncated", "NextContinuationToken", "NextMarker", "LastEvaluatedKey", "NextKeyMarker",
                       "ContinuationToken", "Marker", "ExclusiveStartKey", "get_paginator")
AWS_LIBRARIES = ("boto3", "aioboto3", "botocore", "aiobotocore")


@RULE.on(ast.Call, callees=(*LISTINGS, *DYNAMO_LISTINGS))
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    func = call.func
    if not isinstance(func, ast.Attribute) or (func.attr not in LISTINGS and func.attr not in DYNAMO_LISTINGS):
        return
    if not imports_any(ctx, AWS_LIBRARIES) or is_test_or_migration(ctx) or has_kwargs_splat(call):
        return
    continuation = LISTINGS.get(func.attr) or DYNAMO_LISTINGS[func.attr]
    if any(k.arg in (continuation, "MaxKeys", "MaxItems", "Limit") for k in call.keywords):
        return  # continuing a listing, or asking for one small page on purpose (an existence check)
    if func.attr in DYNAMO_LISTINGS and not _is_dynamodb(func.value, ctx):
        return
    if _reads_continuation(call, ctx) or _first_page_is_enough(call, ctx):
        return
    yield ctx.finding(
        RULE, call,
        f"{ctx.dotted_name(func) or func.attr}() returns only the first page of results and this code never"
        f" asks for the next one: everything after it is silently ignored in production; use"
        f" get_paginator(\"{func.attr}\") or loop on {continuation}",
    )


def _first_page_is_enough(call: ast.Call, ctx: ModuleContext) -> bool:
    """The listing's rows are not what the code wants: the result is thrown away (a permission probe:
    `s3.list_objects_v2(Bucket=b)` alone in a `try`), or only its first entry is read (`resp["Contents"][0]`)."""
    parent = ctx.parent(call)
    if isinstance(parent, ast.Expr):
        return True
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)):
        return False
    name = parent.targets[0].id
    function = ctx.enclosing_function(call) or ctx.tree
    reads = [n for n in ctx.own_nodes(function) if isinstance(n, ast.Name) and n.id == name
             and isinstance(n.ctx, ast.Load)] if function is not ctx.tree else []
    if not reads:
        return False
    for read in reads:
        outer = ctx.parent(read)
        if isinstance(outer, ast.Compare) and all(isinstance(op, (ast.In, ast.NotIn)) for op in outer.ops):
            continue  # `if "Contents" in response:`
        first = ctx.parent(outer) if isinstance(outer, ast.Subscript) and outer.value is read else None
        if not (isinstance(first, ast.Subscript) and first.value is outer and isinstance(first.slice, ast.Constant)
                and first.slice.value == 0):
            return False  # any other read may walk the page
    return True


def _is_dynamodb(receiver: ast.AST, ctx: ModuleContext) -> bool:
    """A `boto3.client("dynamodb")` or a `dynamodb.Table(...)` resource, followed through locals and self."""
    source = origin(receiver, ctx)
    if isinstance(source, ast.Call):
        if isinstance(source.func, ast.Attribute) and source.func.attr == "Table":
            return True
        return any(isinstance(a, ast.Constant) and a.value == "dynamodb" for a in source.args)
    spelled = (ctx.dotted_name(receiver) or "").lower()
    return "dynamo" in spelled or spelled.endswith("table")


def _reads_continuation(call: ast.Call, ctx: ModuleContext) -> bool:
    function = ctx.enclosing_function(call) or ctx.tree

    def compute() -> bool:
        for node in ast.walk(function):
            if isinstance(node, ast.Constant) and node.value in CONTINUATION_FIELDS or \
                    isinstance(node, ast.keyword) and node.arg in CONTINUATION_FIELDS or \
                    isinstance(node, ast.Attribute) and node.attr in CONTINUATION_FIELDS:
                return True
        return False

    return ctx.memo(("orm-continuation", id(function)), compute)
