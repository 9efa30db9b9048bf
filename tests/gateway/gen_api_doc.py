#!/usr/bin/env python3
"""Builds docs/API.md from its template and the exchanges the gateway tests
recorded (ORCH_API_DOC=<file>; see tests/gateway/gwtest.c gwt_doc()).

    gen_api_doc.py TEMPLATE FLOW_EXCHANGES UNIT_EXCHANGES > docs/API.md

FLOW_EXCHANGES come from acexy_flow_test (the real orchestratord with Docker),
UNIT_EXCHANGES from gateway_test (an in-process core on a manual clock). Each
`{{EXCHANGES <key>}}` line of the template is replaced by every exchange
recorded under <key> ("GET /engines", "errors", ...): the real daemon's
first, then the in-process ones. A key with no exchange, or an exchange whose
key the template does not name, is an error: the document must show a real
request and response for every endpoint.
"""
import re
import sys

MARK = re.compile(r"^<!-- exchange: (.+) -->$")


def read_exchanges(path, source):
    out = {}
    key, buf = None, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = MARK.match(line.rstrip("\n"))
            if m:
                if key is not None:
                    out.setdefault(key, []).append((source, "".join(buf)))
                key, buf = m.group(1), []
            else:
                buf.append(line)
    if key is not None:
        out.setdefault(key, []).append((source, "".join(buf)))
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    template, flow, unit = sys.argv[1:]
    ex = {}
    for path, source in ((flow, "orchestratord + Docker"),
                         (unit, "in-process core, manual clock")):
        for k, v in read_exchanges(path, source).items():
            ex.setdefault(k, []).extend(v)
    used = set()
    out = []
    with open(template, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\{\{EXCHANGES (.+)\}\}$", line.rstrip("\n"))
            if not m:
                out.append(line)
                continue
            key = m.group(1)
            if key not in ex:
                sys.exit("no recorded exchange for %r" % key)
            used.add(key)
            for source, text in ex[key]:
                # "#### title" -> "#### title *(source)*"
                first, _, rest = text.partition("\n")
                out.append("%s *(%s)*\n%s" % (first, source, rest))
    unused = set(ex) - used
    if unused:
        sys.exit("exchanges the template does not place: %s" %
                 ", ".join(sorted(unused)))
    sys.stdout.write("".join(out).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
