import os

from flask import Flask
from openai import OpenAI

# ruleid: GAP805
SECRET_KEY = "django-insecure-h7d0q2m5v8z1c4w6"
# ruleid: GAP805
SLACK_SIGNING_SECRET = os.environ.get("SLACK_SIGNING_SECRET", "3c9f1b7e2a4d48e6b0f5a1c7d9e2f4a8")
# ok: GAP805
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
# ok: GAP805
JWT_SECRET = os.environ["JWT_SECRET"]
# ok: GAP805
TOKEN_URL = "https://oauth2.example.com/token/v2/issue"
# ok: GAP805
SECRET_KEY_PLACEHOLDER = "change-me-in-production-0000"

app = Flask(__name__)
# ruleid: GAP805
app.config["SECRET_KEY"] = "9f2c1e7a4b8d3f60a5c2e9b7d1f4a8c3"
# ruleid: GAP805
client = OpenAI(api_key=os.getenv("OPENAI_API_KEY", "sk-proj-Xq2Lm9Vt4Rk7Wc1Hs8Np3Bd6Fz0Gy5Ja"))
# ruleid: GAP805
mail_password = os.getenv("SMTP_PASSWORD", "SG.kq3VbH1xT0aW9eZ2mP7rYc.4nLd8uFj6sQ1oR3tE5wX0yB2vN9aM7kC")
# ok: GAP805
client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])
# ok: GAP805
cache_key = "orders:summary:v2"


# ok: GAP805
VERTEX_PATH_ACCEPTING_CONTINUATION_TOKEN = "/v1beta1/projects/"
# ok: GAP805
RESET_TOKEN = "accounts/password/reset3/"
# ok: GAP805
EXAMPLE_RESPONSE = {"access_key": "AKIAIOSFODNN7EXAMPLE"}
# ruleid: GAP805
LEAKED = {"access_key": "AKIAQ3EGTQVJ5WPLK7NB"}
