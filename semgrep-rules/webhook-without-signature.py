import json

import stripe
from django.conf import settings
from django.http import HttpResponse
from fastapi import Depends, FastAPI, Request
from flask import Flask, request

app = Flask(__name__)
api = FastAPI()


def stripe_webhook(request):
    # ruleid: GAP812
    event = json.loads(request.body)
    if event["type"] == "payment_intent.succeeded":
        mark_paid(event["data"]["object"]["id"])
    return HttpResponse(status=200)


def stripe_webhook_verified(request):
    # ok: GAP812
    event = stripe.Webhook.construct_event(
        request.body, request.headers["Stripe-Signature"], settings.STRIPE_WEBHOOK_SECRET
    )
    mark_paid(event["data"]["object"]["id"])
    return HttpResponse(status=200)


@app.post("/webhooks/github")
def github_events():
    # ruleid: GAP812
    payload = request.get_json()
    return {"ok": payload["action"]}


@api.post("/hooks/billing")
async def billing_webhook(request: Request):
    body = await request.body()
    if not verify_hmac(body, request.headers.get("X-Signature")):
        return {"ok": False}
    # ok: GAP812
    payload = await request.json()
    return {"ok": payload["id"]}


def notify_webhook(event):
    # ok: GAP812
    return json.dumps(event)


def mark_paid(intent_id):
    return intent_id


def verify_hmac(body, signature):
    return bool(body and signature)


@api.post("/hooks/payments")
async def payments_webhook(request: Request, _=Depends(require_hmac_signature)):
    # ok: GAP812
    payload = await request.json()
    return {"ok": payload["id"]}


@app.post("/webhooks/shop")
@verify_shop_webhook
def shop_webhook():
    # todook: GAP812
    payload = request.get_json()
    return {"ok": payload["id"]}
