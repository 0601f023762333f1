import asyncio
import os

from fastapi import FastAPI
from flask import Flask

app = Flask(__name__)
# ruleid: GAP806
app.config["DEBUG"] = True
# ruleid: GAP806
api = FastAPI(title="orders", debug=True)
# ok: GAP806
api = FastAPI(title="orders", debug=os.environ.get("API_DEBUG") == "1")


async def main():
    return None


if __name__ == "__main__":
    # ok: GAP806
    asyncio.run(main(), debug=True)
    # ruleid: GAP806
    app.run(host="0.0.0.0", port=8000, debug=True)
    # ok: GAP806
    app.run(host="127.0.0.1", debug=os.environ.get("FLASK_DEBUG") == "1")
