"""
The p2phttp routes as pure functions: examples checked against git-annex
10.20261026 (tests/interop/test_http_differential.py runs them against the
real server too), and properties over generated requests.
"""

import base64

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest

from annexrelay.frontdoor.http import routes
from annexrelay.frontdoor.http.routes import Refusal, Route

U = b"7685e0b4-cd27-4131-be8d-398f641c7902"
CU = b"18f2a29e-a848-4da3-84d2-e560de061a2a"
K = b"SHA256E-s15--71ffb79bff10c0e46587cd03c9bdb85022d54d09b1c52733088d26536b1fd2dc.txt"


def b64(raw):
    return b"[" + base64.urlsafe_b64encode(raw) + b"]"


def route(verb, path, query=b"", headers=None):
    return routes.route(verb, path, query, headers or {})


class ExampleTests(unittest.TestCase):
    def test_checkpresent(self):
        r = route("POST", b"/git-annex/" + U + b"/v4/checkpresent", b"key=" + K + b"&clientuuid=" + CU)
        self.assertEqual(r, Route("checkpresent", 4, U, {"key": K, "clientuuid": CU, "bypass": ()}))
        self.assertEqual(r.actionClass, "read")

    def test_refusals_in_git_annexs_words(self):
        g = b"/git-annex/" + U
        cases = [
            (("POST", g + b"/v4/checkpresent", b"key=" + K), (400, b"Query parameter clientuuid is required")),
            (("POST", g + b"/v4/checkpresent", b""), (400, b"Query parameter key is required")),
            (("POST", g + b"/v5/checkpresent", b""), (400, b"bad version")),
            (("POST", g + b"/v0/gettimestamp", b""), (400, b"bad version")),
            (("GET", g + b"/v4/checkpresent", b""), (400, b"bad version")),
            (("POST", g + b"/v4/key/" + K, b""), (400, b"bad version")),
            (("POST", g + b"/key/" + K, b""), (405, b"")),
            (("POST", g + b"/v4/nosuch", b""), (404, b"")),
            (("GET", b"/git-annex/", b""), (404, b"")),
            (("GET", g + b"/v4/key/garbage", b"clientuuid=" + CU), (400, b"key parse error")),
            (("POST", b"/git-annex//v4/checkpresent", b""), (400, b"empty UUID")),
            (("POST", g + b"/v4/checkpresent", b"key=garbage"), (400, b"Error parsing query parameter key failed: key parse error")),
            (("POST", g + b"/v4/checkpresent", b"key=[zz!!]"), (400, b"Error parsing query parameter key failed: unable to base64 decode [] wrapped value")),
            (("POST", g + b"/v4/checkpresent", b"key=" + K + b"&clientuuid="), (400, b"Error parsing query parameter clientuuid failed: empty UUID")),
            (("POST", g + b"/v4/checkpresent", b"key=" + K + b"&clientuuid=" + CU + b"&bypass=[!]&bypass="),
             (400, b"Error parsing query parameter(s) bypass failed: unable to base64 decode [] wrapped value, empty UUID")),
            (("POST", g + b"/v4/remove-before", b"key=" + K + b"&clientuuid=" + CU + b"&timestamp=1.5"),
             (400, b"Error parsing query parameter timestamp failed: timestamp parse error")),
            (("POST", g + b"/v4/put", b"key=" + K + b"&clientuuid=" + CU), (400, b"Header X-git-annex-data-length is required")),
            (("POST", g + b"/v4/keeplocked", b"lockid="), (400, b"Error parsing query parameter lockid failed: empty UUID")),
        ]
        for args, expected in cases:
            r = route(*args)
            self.assertIsInstance(r, Refusal, args)
            self.assertEqual((r.status, r.body), expected, args)

    def test_details(self):
        g = b"/git-annex/" + U
        # A trailing slash, the first of a duplicate, '+' as a space.
        r = route("POST", g + b"/v4/checkpresent/", b"key=" + K + b"&key=zz&clientuuid=" + CU)
        self.assertEqual(r.params["key"], K)
        r = route("GET", g + b"/v4/key/" + K, b"clientuuid=" + CU + b"&offset=+5")
        self.assertEqual(r.params["offset"], 5)
        # The unversioned GET: v0, clientuuid optional, offset ignored.
        r = route("HEAD", g + b"/key/" + K, b"offset=3")
        self.assertEqual((r.action, r.version, r.generic, r.params), ("key", 0, True, {"key": K, "bypass": ()}))
        # data-present only at v4.
        h = {"x-git-annex-data-length": b"3"}
        self.assertTrue(route("POST", g + b"/v4/put", b"key=" + K + b"&clientuuid=" + CU + b"&data-present=true", h).params["data-present"])
        self.assertNotIn("data-present", route("POST", g + b"/v3/put", b"key=" + K + b"&clientuuid=" + CU + b"&data-present=zz", h).params)

    def test_authorization(self):
        self.assertIsNone(routes.authorization(None))
        self.assertEqual(routes.authorization(b"Basic " + base64.b64encode(b"alice:se:cret")), (b"alice", b"se:cret"))
        self.assertEqual(routes.authorization(b"garbage").status, 400)


uuids = st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b)
keys = st.builds(
    lambda backend, size, name: backend + b"-s%d--" % size + name,
    st.sampled_from([b"SHA256E", b"WORM", b"MD5"]),
    st.integers(0, 10 ** 12),
    st.binary(min_size=0, max_size=60).filter(lambda b: b"\n" not in b),
)


def encode(value, raw):
    """
    A query value: as it is (percent-encoded) when C{raw}, else in
    brackets, base64url.
    """
    if raw and not (value.startswith(b"[") and value.endswith(b"]")):
        from urllib.parse import quote_from_bytes

        return quote_from_bytes(value, safe=b"").encode()
    return b64(value)


class PropertyTests(unittest.TestCase):
    @settings(max_examples=300, deadline=None)
    @given(
        st.sampled_from(sorted(routes.ACTIONS)),
        st.integers(0, 6),
        uuids,
        keys,
        uuids,
        st.lists(uuids, max_size=3),
        st.booleans(),
    )
    def test_valid_requests_round_trip(self, action, version, server, key, client, bypass, raw):
        method, versions, specs = routes.ACTIONS[action]
        names = [n for n, _, _ in specs]
        q = [b"clientuuid=" + encode(client, raw)] + [b"bypass=" + encode(b, raw) for b in bypass]
        if "key" in names:
            q.append(b"key=" + encode(key, raw))
        if "timestamp" in names:
            q.append(b"timestamp=17")
        if "lockid" in names:
            q.append(b"lockid=" + encode(client, raw))
        path = b"/git-annex/" + encode(server, raw).replace(b"%2F", b"%252F") + b"/v%d/%s" % (version, action.encode())
        if action == "key":
            path += b"/" + encode(key, raw)
        headers = {"x-git-annex-data-length": b"12"}
        r = route(method, path.replace(b"%252F", b"%2F"), b"&".join(q), headers)
        if version not in versions:
            self.assertEqual((r.status, r.body), (400, b"bad version"))
            return
        self.assertIsInstance(r, Route, (path, q))
        self.assertEqual((r.action, r.version, r.uuid), (action, version, server))
        self.assertEqual(r.params["bypass"], tuple(bypass))
        if "key" in names or action == "key":
            self.assertEqual(r.params["key"], key)
        if "clientuuid" in names:
            self.assertEqual(r.params["clientuuid"], client)

    @settings(max_examples=500, deadline=None)
    @given(st.sampled_from(["GET", "POST", "HEAD", "PUT"]), st.binary(max_size=120), st.binary(max_size=120), st.dictionaries(st.sampled_from(["x-git-annex-data-length", "authorization"]), st.binary(max_size=20)))
    def test_anything_is_a_route_or_a_refusal(self, verb, path, query, headers):
        r = route(verb, b"/git-annex/" + path, query, headers)
        self.assertIsInstance(r, (Route, Refusal))
        if isinstance(r, Refusal):
            self.assertIn(r.status, (400, 404, 405))

    @given(st.binary(max_size=200))
    def test_base64_values(self, value):
        self.assertEqual(routes.decode_value(b64(value)), value)
