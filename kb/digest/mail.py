"""Mail backends chosen by configuration (KB_MAIL_BACKEND): smtp, console and memory.

A backend opens one connection for many messages (`with backend.connect() as connection:`)
and `connection.send(message)` either returns, or raises Refused (the server said no to this
message: nothing was delivered), Unavailable (the server cannot be reached: nothing was
delivered) or Uncertain (the connection broke after the whole message was handed over: it
may have been delivered; never resend it without a person deciding).
"""

import re
import smtplib
import socket
import ssl
import sys
from contextlib import contextmanager
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr

from kb.models import utcnow

BACKENDS = ("smtp", "console", "memory")


class MailError(Exception):
    """A message that did not reach the mail server's queue (see the subclasses)."""


class Refused(MailError):
    """The server refused this message or recipient; others may still be sent."""


class Unavailable(MailError):
    """The server could not be reached, or dropped the connection before the message."""


class Uncertain(MailError):
    """The connection broke after the message was sent but before the server answered."""


# --- messages -----------------------------------------------------------------------------


def message_id(sender):
    """A new Message-ID in the sender's domain (so it can be found in the mail logs)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "hindsight.invalid"
    return make_msgid(idstring="digest", domain=domain)


def build_message(
    *,
    sender,
    to,
    subject,
    text,
    html,
    msg_id=None,
    unsubscribe_url=None,
    list_id=None,
    date=None,
):
    """A multipart/alternative message (text first, HTML preferred) with list headers.

    With `unsubscribe_url`, List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 one-click)
    let mail clients offer an unsubscribe button.
    """
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date or utcnow())
    message["Message-ID"] = msg_id or message_id(sender)
    message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies, please
    message["Precedence"] = "bulk"
    if list_id:
        message["List-Id"] = list_id
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # quoted-printable keeps lines short and 7-bit: no server needs 8BITMIME or SMTPUTF8.
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def envelope_address(header):
    """The bare address of a From or To header value ('Name <a@b>' -> 'a@b')."""
    return parseaddr(str(header))[1]


def display_address(name, address):
    """'Name <address>' (quoted as needed), or the address alone."""
    return str(Address(display_name=name, addr_spec=address)) if name else address


# --- backends -----------------------------------------------------------------------------


def backend_from_config(config, stream=None):
    """The backend KB_MAIL_BACKEND names, set up from the KB_SMTP_* settings."""
    name = (config.get("MAIL_BACKEND") or "smtp").strip().lower()
    if name == "smtp":
        return SMTPBackend(
            host=config["SMTP_HOST"],
            port=int(config["SMTP_PORT"]),
            username=config.get("SMTP_USERNAME"),
            password=config.get("SMTP_PASSWORD"),
            starttls=bool(config.get("SMTP_STARTTLS")),
        )
    if name == "console":
        return ConsoleBackend(stream)
    if name == "memory":
        return MemoryBackend()
    raise ValueError(f"KB_MAIL_BACKEND must be one of {', '.join(BACKENDS)} (got {name!r})")


class SMTPBackend:
    """Sends over SMTP, one connection for many messages, reconnecting once when dropped."""

    def __init__(self, host, port=25, username=None, password=None, starttls=False, timeout=30):
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout

    def describe(self):
        """Where messages go, for the command's output."""
        return f"SMTP {self.host}:{self.port}{' with STARTTLS' if self.starttls else ''}"

    @contextmanager
    def connect(self):
        """One SMTP session for a batch of messages; closed politely at the end."""
        connection = _SMTPConnection(self)
        try:
            connection.open()
            yield connection
        finally:
            connection.close()

    def open_client(self):
        """A connected (and, when configured, encrypted and authenticated) smtplib client."""
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise Unavailable(f"cannot connect to {self.host}:{self.port}: {_reason(exc)}") from exc
        try:
            client.ehlo()
            if self.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self.username:
                client.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            client.close()
            raise Unavailable(f"the server refused the login: {_reason(exc)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            client.close()
            raise Unavailable(f"{self.host}:{self.port}: {_reason(exc)}") from exc
        return client


class _SMTPConnection:
    def __init__(self, backend):
        self.backend = backend
        self.client = None

    def open(self):
        self.client = self.backend.open_client()

    def close(self):
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                self.client.close()
            self.client = None

    def send(self, message):
        """Hand one message to the server; see the module docstring for what may be raised."""
        try:
            return self._transaction(message)
        except Unavailable:
            # The server may have closed an idle connection: one fresh try, then give up.
            self.close()
            self.open()
            return self._transaction(message)

    def _transaction(self, message):
        """MAIL, RCPT, DATA step by step, so a broken connection is known to be before or
        after the message was handed over (smtplib.sendmail cannot tell them apart)."""
        if self.client is None:
            self.open()
        client = self.client
        sender = envelope_address(message["From"])
        recipient = envelope_address(message["To"])
        try:
            code, reply = client.mail(sender)
            _closing(code, reply)
            if code != 250:
                self._reset()
                raise Refused(f"{code} {_text(reply)} (MAIL FROM)")
            code, reply = client.rcpt(recipient)
            _closing(code, reply)
            if code not in (250, 251):
                self._reset()
                raise Refused(f"{code} {_text(reply)}")
            code, reply = client.docmd("DATA")
            if code != 354:
                self._reset()
                raise Refused(f"{code} {_text(reply)} (DATA)")
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self.client = None
            raise Unavailable(
                f"connection lost before the message was sent: {_reason(exc)}"
            ) from exc
        try:
            client.send(_dot_stuffed(message.as_bytes()))
            code, reply = client.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self.client = None
            raise Uncertain(
                f"connection lost after the message was sent, before the server answered: "
                f"{_reason(exc)}"
            ) from exc
        if code != 250:
            raise Refused(f"{code} {_text(reply)}")
        return _text(reply)

    def _reset(self):
        try:
            self.client.rset()
        except (OSError, smtplib.SMTPException):
            self.client = None


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _dot_stuffed(data):
    """The DATA payload: CRLF line ends, leading dots doubled, ending in CRLF.CRLF."""
    data = re.sub(rb"\r?\n", b"\r\n", data)
    data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _closing(code, reply):
    """421: the server is shutting the connection (a reason to stop, not a refusal)."""
    if code == 421:
        raise Unavailable(f"{code} {_text(reply)}")


def _text(reply):
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _reason(exc):
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or exc.__class__.__name__


class ConsoleBackend:
    """Prints each message's headers and plain text (for development)."""

    def __init__(self, stream=None):
        self.stream = stream

    def describe(self):
        """Where messages go, for the command's output."""
        return "the console (KB_MAIL_BACKEND=console)"

    @contextmanager
    def connect(self):
        """Nothing to open: the connection is the backend itself."""
        yield self

    def send(self, message):
        """Print the message; the HTML part is only measured."""
        stream = self.stream or sys.stdout
        out = ["=" * 72]
        out += [f"{name}: {value}" for name, value in message.items()]
        for part in message.iter_parts():
            if part.get_content_type() == "text/plain":
                out += ["", part.get_content().rstrip()]
            else:
                out += [
                    "",
                    f"[{part.get_content_type()} part: {len(part.get_content()):,} characters]",
                ]
        print("\n".join(out), file=stream, flush=True)
        return "printed"


class MemoryBackend:
    """Keeps messages in `outbox` (for tests and previews)."""

    def __init__(self):
        self.outbox = []

    def describe(self):
        """Where messages go, for the command's output."""
        return "memory"

    @contextmanager
    def connect(self):
        """Nothing to open: the connection is the backend itself."""
        yield self

    def send(self, message):
        """Keep the message."""
        self.outbox.append(message)
        return "kept"
