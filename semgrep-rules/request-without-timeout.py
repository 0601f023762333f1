import requests
import requests as rq
from requests import get


def fetch(url):
    # ruleid: GAP401
    requests.get(url)
    # ruleid: GAP401
    rq.post(url, json={})
    # ruleid: GAP401
    get(url)
    # ok: GAP401
    requests.get(url, timeout=5)
    # ok: GAP401
    requests.get(url, **options)


def with_session(url):
    session = requests.Session()
    # ruleid: GAP401
    session.get(url)
    # ok: GAP401
    session.get(url, timeout=(3, 27))


class Client:
    def __init__(self):
        self.http = requests.Session()

    def fetch(self, url):
        # ruleid: GAP401
        return self.http.get(url)

    def fetch_ok(self, url):
        # ok: GAP401
        return self.http.get(url, timeout=10)
