"""Small PDF files for tests: an encrypted (password-protected) one and a corrupt one, written byte by byte.

``encrypted_pdf_bytes()`` is a one-page PDF whose trailer has a Standard security handler (RC4, revision 2) with a
user password that is not empty, so PDF readers ask for a password (PDFium: ``FPDF_ERR_PASSWORD``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CORRUPT_PDF", "encrypted_pdf_bytes", "page_pdf_bytes", "write_encrypted_pdf"]

#: Starts like a PDF, has no body: PDFium reports a format error.
CORRUPT_PDF = b"%PDF-1.4\n% truncated: no objects, no xref\n"


def _pdf(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF file of ``objects`` (numbered from 1; object 1 is the catalog) with a valid cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


_PAGES = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"]


def page_pdf_bytes(width: float, height: float) -> bytes:
    """A one-page PDF whose ``MediaBox`` is ``width`` x ``height`` points (pdfium accepts sizes beyond the
    14,400-unit limit of the PDF specification)."""
    return _pdf([*_PAGES, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] >>" % (width, height)])


def encrypted_pdf_bytes() -> bytes:
    objects = [
        *_PAGES,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>",
    ]
    file_id = b"<" + b"33" * 16 + b">"
    return _pdf(objects, b" /Encrypt 4 0 R /ID [%s %s]" % (file_id, file_id))


def write_encrypted_pdf(path: Path) -> Path:
    path.write_bytes(encrypted_pdf_bytes())
    return path
