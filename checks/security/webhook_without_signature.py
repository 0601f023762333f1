"""GAP812 webhook-without-signature (a Semgrep rule: semgrep-rules/webhook-without-signature.yaml)."""
from __future__ import annotations

from ...analyzer.registry import Docs, Rule

RULE = Rule(
    id="GAP812",
    name="webhook-without-signature",
    category="security",
    severity="error",
    precision="medium",
    cwe="CWE-345",
    security_severity="8.1",
    semgrep=True,
    hints=("webhook", "Webhook", "WEBHOOK", "web_hook", "web-hook"),
    summary="A webhook handler trusts the payload without checking the sender's signature",
    docs=Docs(
        what=(
            "Flags the line where a webhook handler - a function named `*webhook*`, or a route whose path contains"
            " `webhook` - reads the request body as data (`json.loads(request.body)`, `request.get_json()`,"
            " `request.json`, `request.data`, `await request.json()`) when nothing in the function mentions a"
            " signature, an HMAC, `compare_digest`, `construct_event`, `is_valid` or a verify step."
        ),
        why=(
            "A webhook URL is public: anyone who finds it (in a log, a browser extension, by guessing) can post a"
            " `payment_intent.succeeded` for an unpaid order or a `subscription.deleted` for someone else's account."
            " Every provider signs its deliveries for this reason; unchecked, the handler acts on forged events."
        ),
        example="def stripe_webhook(request):\n    event = json.loads(request.body)\n    handle(event)",
        instead=(
            "def stripe_webhook(request):\n    event = stripe.Webhook.construct_event(\n        request.body,"
            " request.headers[\"Stripe-Signature\"], settings.STRIPE_WEBHOOK_SECRET)\n    handle(event)"
        ),
        not_caught=(
            "Verification done outside the handler (a decorator, a `before_request` hook, middleware: precision is"
            " medium for this reason; a FastAPI dependency whose name says so, `_=Depends(verify_signature)`, is"
            " seen and stays silent), handlers with other names and paths (`/stripe/events`), and checks that"
            " verify something weaker than a signature (an IP allow-list, a shared token in the query string)."
        ),
        references=("https://docs.stripe.com/webhooks#verify-events",
                    "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
                    "https://cwe.mitre.org/data/definitions/345.html"),
    ),
)
