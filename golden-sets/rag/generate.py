#!/usr/bin/env python3
"""Builds the RAG sample in golden-sets/rag/ from real text the repository can ship: the docstrings
of CPython's standard library (PSF License). Documents are public functions/classes/methods with a
substantial docstring; queries paraphrase a sentence of a document with its names removed; the
qrels mark that document relevant (grade 2) and its module siblings that share the query's key
words partially relevant (grade 1). Seeded: the output is reproducible for a given Python version.

    python3 golden-sets/rag/generate.py [--docs 3000] [--queries 300] [--out golden-sets/rag]
"""
import argparse, importlib, inspect, json, os, random, re

MODULES = """argparse ast asyncio base64 bisect calendar cmd codecs collections concurrent.futures configparser contextlib copy
csv dataclasses datetime decimal difflib email enum fnmatch fractions functools getopt gettext glob gzip hashlib heapq hmac html
http.client http.server imaplib inspect io ipaddress itertools json logging lzma mailbox math mimetypes multiprocessing numbers
operator optparse os pathlib pickle pkgutil platform plistlib poplib pprint queue quopri random re sched secrets selectors shelve
shlex shutil signal smtplib socket socketserver sqlite3 ssl statistics string struct subprocess tarfile tempfile textwrap threading
time timeit tokenize trace traceback turtle typing unittest urllib.parse urllib.request uuid warnings wave weakref xml.dom.minidom
xml.etree.ElementTree zipfile zlib tkinter tkinter.ttk idlelib.editor pydoc doctest ftplib nntplib telnetlib imghdr xml.sax xmlrpc.client xmlrpc.server curses ctypes dbm unittest.mock email.message email.utils http.cookiejar http.cookies importlib.metadata logging.handlers multiprocessing.pool asyncio.streams asyncio.tasks asyncio.events tkinter.tix lib2to3.pytree idlelib.pyshell turtledemo.nim cgi mailcap sunau aifc chunk codeop compileall dis filecmp fileinput ftplib netrc pdb profile pstats pyclbr py_compile reprlib rlcompleter runpy site smtpd symtable sysconfig tabnanny tty zipimport zoneinfo graphlib""" .split()
STOP = set("the a an of to and or in is are be by for with as that this it its on at from if not no can which when will any all "
           "return returns object objects value values given default true false none".split())


def docs_from(module_name):
    try:
        mod = importlib.import_module(module_name)
    except Exception:
        return
    for name, obj in sorted(vars(mod).items()):
        if name.startswith("_") or getattr(obj, "__module__", module_name) != mod.__name__:
            continue
        targets = [(f"{module_name}.{name}", obj)]
        if inspect.isclass(obj):
            targets += [(f"{module_name}.{name}.{m}", f) for m, f in sorted(vars(obj).items()) if not m.startswith("_") and callable(f)]
        for ident, o in targets:
            doc = inspect.getdoc(o)
            if doc and len(doc) >= 120:
                yield ident, doc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    rng = random.Random(20261123)
    docs, seen = [], set()
    for m in MODULES:
        for ident, text in docs_from(m):
            if text in seen:
                continue
            seen.add(text)
            docs.append((ident, f"{ident}\n\n{text}"))
    docs = docs[: args.docs]
    with open(os.path.join(args.out, "corpus.jsonl"), "w") as f:
        for ident, text in docs:
            f.write(json.dumps({"id": ident, "text": text, "metadata": {"source": "CPython standard library docstring"}}) + "\n")
    by_module = {}
    for ident, text in docs:
        by_module.setdefault(ident.rsplit(".", 1)[0], []).append((ident, text))
    picked = rng.sample(docs, min(args.queries, len(docs)))
    with open(os.path.join(args.out, "queries.jsonl"), "w") as fq, open(os.path.join(args.out, "qrels.txt"), "w") as fr:
        for n, (ident, text) in enumerate(picked):
            body = text.split("\n\n", 1)[1]
            sentences = [s for s in re.split(r"(?<=[.!?])\s+", body) if len(s.split()) >= 6]
            sentence = rng.choice(sentences) if sentences else body[:200]
            names = set(re.split(r"[._]", ident.lower()))
            words = [w for w in re.findall(r"[A-Za-z]+", sentence) if w.lower() not in names]
            if len(words) > 12:
                start = rng.randint(0, len(words) - 12)
                words = words[start:start + 12]
            query = " ".join(words).lower()
            if not query.strip():
                continue
            qid = f"q{n:04d}"
            fq.write(json.dumps({"id": qid, "text": query}) + "\n")
            fr.write(f"{qid} 0 {ident} 2\n")
            key = {w for w in query.split() if w not in STOP and len(w) > 3}
            siblings = [d for d, t in by_module.get(ident.rsplit(".", 1)[0], []) if d != ident]
            for d in siblings:
                t = dict(docs)[d].lower()
                if key and sum(w in t for w in key) >= max(2, len(key) // 2):
                    fr.write(f"{qid} 0 {d} 1\n")
    print(f"{len(docs)} documents, {len(picked)} queries")


if __name__ == "__main__":
    main()
