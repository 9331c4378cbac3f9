"""App: routes, middleware, error mapping and lifespan over the core's WebSocketRequest.

::

    app = App()

    @app.websocket("/rooms/{room}/{user_id:int}", subprotocols=["chat.v2", "chat.v1"])
    async def room(request: WebSocketRequest) -> None:
        ws = await request.accept()        # picks the best offered subprotocol
        ...

Dispatch happens once per connection (routing, middleware), never per message: a handler's
connection is the core's connection, so messages cost what they cost on the bare server.

Middleware run in the order they were added, outermost first: the first one added sees the
request first and the handler's outcome last. They run for WebSocket handshakes and plain HTTP
requests alike, unless added with ``only="websocket"`` or ``only="http"``.
"""

from __future__ import annotations

import logging
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, TypeVar, overload

import trio

from . import metrics
from ._groups import raise_single
from .accepts import Accepts
from .asgi import Receive, Scope, Send, asgi_app
from .asyncapi import Servers, asyncapi_document
from .datastructures import State
from .handling import answer_exception
from .http import HTTPRequest, Response, to_response
from .middleware import CallNext, Middleware, MiddlewareStack, RequestKind, check_kind
from .options import ASGIOptions, ServerOptions
from .request import BaseRequest, Compression, WebSocketRequest, WebSocketRoute
from .rooms import Broker, Rooms
from .routing import Route, Router
from .server import WebSocketServer

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["App", "CallNext", "Middleware"]

logger = logging.getLogger("wsframework")

Handler = Callable[[WebSocketRequest], Awaitable[None]]
ExceptionHandler = Callable[[WebSocketRequest, Exception], Awaitable[Any]]
Lifespan = Callable[["App"], AbstractAsyncContextManager[Any]]
F = TypeVar("F", bound=Callable[..., Any])
MW = TypeVar("MW", bound=Middleware)
WSMW = TypeVar("WSMW", bound=Middleware[WebSocketRequest] | Middleware)
HTTPMW = TypeVar("HTTPMW", bound=Middleware[HTTPRequest] | Middleware)


class App:
    """A WebSocket application: decorate handlers, then serve it.

    Args:
        lifespan: ``lifespan(app)`` returning an async context manager entered at startup and
            left at shutdown (after the ``on_startup`` / before the ``on_shutdown`` hooks).
        middleware: middleware to install, outermost first; each runs for both kinds of request
            (see :meth:`add_middleware`).
        root_path: a prefix the app is mounted under behind a proxy (``/api``), stripped from
            request paths before routing (see :meth:`route_path`). A ``root_path`` the server
            states (an ASGI scope's) takes its place.
        asgi_options: limits for the ASGI transport (queue size, message size, receive
            timeout); see :class:`~wsframework.options.ASGIOptions`.
        broker: where rooms meet: a URL (``"redis://127.0.0.1:6379/0"``,
            ``"redis+sentinel://..."``) or a :class:`~wsframework.rooms.Broker`; ``None`` (the
            default) keeps rooms in this process's memory. ``wsframework run --broker`` and the
            ``WSFRAMEWORK_BROKER`` environment variable take precedence (docs/scale-out.md).

    Attributes:
        state: application-wide state (``app.state.db = ...``).
        rooms: the app's rooms (``app.rooms["lobby"]``, ``app.rooms.configure(...)``); open
            while the app runs (docs/rooms.md).
        router: the route table.
        nursery: a nursery for app-lifetime background tasks, open while the app runs
            (inside :meth:`lifespan_context`); a task that fails is logged and the app carries on.
    """

    def __init__(
        self,
        *,
        lifespan: Lifespan | None = None,
        middleware: Sequence[Middleware] = (),
        root_path: str = "",
        asgi_options: ASGIOptions | None = None,
        broker: str | Broker | None = None,
    ) -> None:
        if root_path and (not root_path.startswith("/") or root_path.endswith("/")):
            raise ValueError(f"root_path must start with '/' and not end with one: {root_path!r}")
        self.root_path = root_path
        self.asgi_options = asgi_options or ASGIOptions()
        self.router = Router()
        self.state = State()
        self.rooms = Rooms(broker)
        self._lifespan = lifespan
        self._middleware = MiddlewareStack(middleware)
        self._exception_handlers: dict[type[BaseException], ExceptionHandler] = {}
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._shutdown: list[Callable[[], Awaitable[None]]] = []
        self._nursery: trio.Nursery | None = None

    # ------------------------------------------------------------------ registration

    def websocket(
        self,
        path: str,
        *,
        name: str | None = None,
        subprotocols: Sequence[str] = (),
        subprotocol_required: bool = False,
        receive: Any = None,
        send: Any = None,
        on_invalid: Literal["close", "reply", "ignore"] = "close",
        compression: Compression = "server",
        accepts: Accepts = "any",
    ) -> Callable[[F], F]:
        """Register a WebSocket handler for a path template.

        Args:
            path: e.g. ``"/rooms/{room}/{user_id:int}"`` (see docs/routing.md).
            name: for :meth:`url_path_for`; the function's name by default.
            subprotocols: supported subprotocols, most preferred first; ``accept()`` without
                an argument picks the first one the client offered.
            subprotocol_required: refuse (HTTP 400, naming the supported ones) a client that
                offers none of ``subprotocols``.
            receive: a message type (pydantic model or union) for inbound messages.
            send: a message type for outbound messages.
            on_invalid: ``"close"`` (1007), ``"reply"`` or ``"ignore"`` for invalid messages.
            compression: this route's permessage-deflate on our own server: ``"server"`` (the
                server's setting, the default), ``None`` (refuse it) or a
                :class:`~wsframework.DeflateOptions`; ``DeflateOptions(
                server_no_context_takeover=True)`` lets a room share compressed frames among
                its members (docs/rooms.md). Under Hypercorn, Hypercorn's setting applies.
            accepts: what clients may send: ``"any"`` (the default), ``"text"``, ``"bytes"``
                or ``"json"`` (text, or UTF-8 bytes, holding JSON); a message of another type
                closes the connection with 1003 before the handler sees it (docs/routing.md).

        Raises:
            ValueError: a malformed or conflicting template, or inconsistent options.
        """
        if subprotocol_required and not subprotocols:
            raise ValueError("subprotocol_required=True needs a list of subprotocols")
        contract = None
        if receive is not None or send is not None or on_invalid != "close":
            from .typed import MessageContract

            contract = MessageContract(receive=receive, send=send, on_invalid=on_invalid)

        def decorator(func: F) -> F:
            route = WebSocketRoute(
                path,
                func,
                name=name,
                subprotocols=subprotocols,
                subprotocol_required=subprotocol_required,
                contract=contract,
                compression=compression,
                accepts=accepts,
            )
            self.router.add(route)
            return func

        return decorator

    def http(
        self, path: str, *, methods: Sequence[str] = ("GET", "HEAD"), name: str | None = None
    ) -> Callable[[F], F]:
        """Register a plain HTTP handler (health checks, a page).

        The handler receives an :class:`~wsframework.http.HTTPRequest` and returns ``str``,
        ``bytes``, a JSON-able ``dict``/``list``, ``None`` (204) or a ``Response``.
        """

        def decorator(func: F) -> F:
            upper = frozenset(m.upper() for m in methods)
            self.router.add(Route(path, func, name=name, kind="http", methods=upper))
            return func

        return decorator

    @overload
    def middleware(self, func: MW) -> MW: ...

    @overload
    def middleware(self, *, only: Literal["websocket"]) -> Callable[[WSMW], WSMW]: ...

    @overload
    def middleware(self, *, only: Literal["http"]) -> Callable[[HTTPMW], HTTPMW]: ...

    def middleware(self, func: Any = None, *, only: RequestKind | None = None) -> Any:
        """Decorator form of :meth:`add_middleware`: ``@app.middleware`` (both kinds) or
        ``@app.middleware(only="websocket")`` / ``(only="http")``."""
        if func is not None:
            self.add_middleware(func)
            return func

        def decorator(func: Any) -> Any:
            self.add_middleware(func, only=only)
            return func

        check_kind(only)
        return decorator

    @overload
    def add_middleware(self, func: Middleware, *, only: None = None) -> None: ...

    @overload
    def add_middleware(
        self, func: Middleware[WebSocketRequest] | Middleware, *, only: Literal["websocket"]
    ) -> None: ...

    @overload
    def add_middleware(
        self, func: Middleware[HTTPRequest] | Middleware, *, only: Literal["http"]
    ) -> None: ...

    def add_middleware(self, func: Any, *, only: RequestKind | None = None) -> None:
        """Add ``async def mw(request, call_next) -> None``; it runs inside those added before
        it.

        By default it runs for every request that matched a route, WebSocket handshakes and
        plain HTTP requests alike (as Starlette's middleware does), typed
        ``Middleware``: ``async def mw(request: BaseRequest, call_next: CallNext) -> None``.
        ``only="websocket"`` runs it for WebSocket handshakes only (a
        ``Middleware[WebSocketRequest]``), ``only="http"`` for plain HTTP requests only (a
        ``Middleware[HTTPRequest]``). A request no route matched (404, 405, 426) is answered
        before any middleware.

        A middleware may reject (``await request.reject(status, body=...)`` and not call
        ``call_next``): a WebSocket handshake is refused with that HTTP response, a plain HTTP
        request answered with it. It may attach state (``request.state.user = ...``), wrap the
        handler (timing, logging, error mapping around ``await call_next(request)``; on a plain
        HTTP request, ``request.response`` is the handler's answer once ``call_next`` returns)
        or just pass through. What it raises is what a handler raising means: a logged 500 (or
        close code 1011 once a WebSocket is accepted).

        Raises:
            ValueError: ``only`` is not ``None``, ``"websocket"`` or ``"http"``.
        """
        self._middleware.add(func, only)

    def exception_handler(self, exc_type: type[BaseException]) -> Callable[[F], F]:
        """Answer for an exception a route's handler raises, instead of the default (HTTP 500
        before ``accept()``, close code 1011 after).

        ``async def h(request, exc)`` returns the answer, which depends on where the handshake
        stands (``request.handshake_state``):

        * after ``accept()``: ``(code, reason)`` or ``code``, a close code (the connection is
          closed with it) or an HTTP status from 400 to 599, sent as close code
          ``4000 + status`` with the status phrase as reason;
        * before ``accept()``: an HTTP status (200-599) or ``(status, body_text)``, a
          :class:`~wsframework.http.Response`, or a close code from 4400 to 4599, answered as
          HTTP ``code - 4000`` with the reason as body;
        * ``None``: the exception handler answered itself (``request.reject(...)`` or
          ``connection.aclose(...)``).

        So ``return 4403, "forbidden"`` closes an open connection with 4403 and refuses a
        handshake with HTTP 403 and the body ``forbidden``. The outcome is logged at INFO; an
        answer that does not fit (a close code such as 1008 before ``accept()``, an HTTP 200
        after it, ``None`` without answering) is logged as an error and the default is used.
        The most specific registered class (by the exception's MRO) wins.
        """

        def decorator(func: F) -> F:
            self._exception_handlers[exc_type] = func
            return func

        return decorator

    def on_startup(self, func: F) -> F:
        """Run ``async def func()`` at startup, in registration order."""
        self._startup.append(func)
        return func

    def on_shutdown(self, func: F) -> F:
        """Run ``async def func()`` at shutdown, in reverse registration order."""
        self._shutdown.append(func)
        return func

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in.

        Raises:
            NoMatchFound: no route has that name, or the parameters do not fit it.
        """
        return self.router.url_path_for(name, **params)

    # ------------------------------------------------------------------ AsyncAPI

    def asyncapi(
        self,
        *,
        title: str = "wsframework app",
        version: str = "0.1.0",
        description: str | None = None,
        servers: Servers | None = None,
    ) -> dict[str, Any]:
        """The AsyncAPI 3.0.0 document of this app's WebSocket routes, as a JSON-able dict.

        Each route is a channel with a ``receive`` and a ``send`` operation; the routes'
        ``receive=`` / ``send=`` types are its messages, with pydantic's JSON Schemas as
        payloads; subprotocols and configured rooms are noted (docs/asyncapi.md says what maps
        to what). ``wsframework asyncapi MODULE:ATTR`` prints it; :meth:`add_asyncapi_route`
        serves it.

        Args:
            title: ``info.title``.
            version: ``info.version``: your API's version.
            description: ``info.description`` (CommonMark).
            servers: where the app is served: a ``ws://``/``wss://`` URL, a list of them or a
                mapping of names to URLs (the app's :attr:`root_path` is their path unless the
                URL has one).

        Raises:
            ValueError: a server URL is not ``ws://`` or ``wss://`` with a host.
            TypeError: a route's message type has no JSON Schema.
        """
        return asyncapi_document(
            self.router.routes,
            title=title,
            version=version,
            description=description,
            servers=servers,
            root_path=self.root_path,
            rooms=self.rooms,
        )

    def add_asyncapi_route(
        self, path: str = "/asyncapi.json", *, name: str = "asyncapi", **options: Any
    ) -> None:
        """Serve :meth:`asyncapi` as JSON at ``GET path`` (nothing is served unless asked).

        ``options`` are the keywords of :meth:`asyncapi`. The document is made again when the
        routes have changed since the last request, so routes added later are in it.

        Raises:
            TypeError, ValueError: as :meth:`asyncapi` for ``options`` (checked now), or as
                :meth:`http` for ``path`` and ``name``.
        """
        cache: list[Any] = [None, self.asyncapi(**options)]

        async def asyncapi(request: HTTPRequest) -> dict[str, Any]:
            routes = self.router.routes
            if cache[0] != routes:
                cache[:] = [routes, self.asyncapi(**options)]
            document: dict[str, Any] = cache[1]
            return document

        self.http(path, name=name)(asyncapi)

    def add_metrics_route(self, path: str = "/metrics", *, name: str = "metrics") -> None:
        """Serve Prometheus metrics at ``GET path`` (docs/metrics.md; needs prometheus-client)."""
        metrics.add_metrics_route(self, path, name)

    def add_health_route(self, path: str = "/ready", *, name: str = "ready") -> None:
        """Answer ``GET path`` with 200, or 503 while draining or the broker is lost."""
        metrics.add_health_route(self, path, name)

    # ------------------------------------------------------------------ running

    @property
    def nursery(self) -> trio.Nursery:
        """The app-lifetime nursery.

        Raises:
            RuntimeError: the app is not running (outside :meth:`lifespan_context`).
        """
        if self._nursery is None:
            raise RuntimeError("the app is not running: start it inside app.lifespan_context()")
        return self._nursery

    def start_background_task(
        self, func: Callable[[], Awaitable[Any]], name: str | None = None
    ) -> None:
        """Run ``func()`` for the app's lifetime; a failure is logged, the app carries on."""

        async def guarded() -> None:
            try:
                await func()
            except Exception:
                logger.exception(
                    "background task %s failed", name or getattr(func, "__name__", func)
                )

        self.nursery.start_soon(guarded, name=name)

    @asynccontextmanager
    async def lifespan_context(self) -> AsyncIterator[App]:
        """Startup on entry, shutdown on exit: the user's lifespan, hooks and the app nursery.

        Cancelling the code inside the block (a server stopping) still runs the shutdown hooks,
        shielded; the app nursery's tasks are cancelled. Startup is not bounded: to bound it,
        enter this under ``trio.fail_after``.

        Raises:
            Exception: whatever a startup hook raised (the app must not start half-ready).
        """
        try:
            async with trio.open_nursery() as nursery, self.rooms.open():
                self._nursery = nursery
                try:
                    for hook in self._startup:
                        await hook()
                    if self._lifespan is not None:
                        async with self._lifespan(self):
                            yield self
                    else:
                        yield self
                finally:
                    with trio.CancelScope(shield=True):
                        for hook in reversed(self._shutdown):
                            try:
                                await hook()
                            except Exception:
                                logger.exception("shutdown hook %s failed", hook)
                    self._nursery = None
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise_single(group)

    async def serve(
        self,
        host: str | None = "127.0.0.1",
        port: int = 8000,
        ssl_context: ssl.SSLContext | None = None,
        *,
        task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED,
        **options: Any,
    ) -> None:
        """Run the app on our own Trio server until cancelled: lifespan, then serve.

        ``server = await nursery.start(app.serve, "127.0.0.1", 0)`` returns once it listens;
        cancel the nursery to stop (shutdown hooks run). ``options`` are those of
        :class:`~wsframework.WebSocketServer` (``max_message_size``, ``ping_interval``, ...,
        ``options=ServerOptions(...)``, ``handler_nursery``); they are checked before startup.

        Raises:
            ValueError: a setting is out of range, or given both in ``options=`` and as a
                keyword.
            TypeError: an unknown keyword.
        """
        given = dict(options)
        settings = ServerOptions.settings_in(given)
        unknown = sorted(set(given) - set(settings) - {"options", "handler_nursery"})
        if unknown:
            raise TypeError(f"App.serve() got unknown keyword arguments: {', '.join(unknown)}")
        server_options = ServerOptions.build(given.get("options"), **settings)
        handler_nursery: trio.Nursery | None = given.get("handler_nursery")
        async with self.lifespan_context():
            if ssl_context is None:
                listeners: list[Any] = list(await trio.open_tcp_listeners(port, host=host))
            else:
                listeners = list(
                    await trio.open_ssl_over_tcp_listeners(
                        port, ssl_context, host=host, https_compatible=True
                    )
                )
            server = WebSocketServer(
                self.handle_websocket,
                listeners,
                handler_nursery=handler_nursery,
                http_handler=self.handle_http,
                options=server_options,
            )
            await server.run(task_status=task_status)

    # ------------------------------------------------------------------ dispatch

    def handle_websocket(self, request: WebSocketRequest) -> Awaitable[None]:
        """The native server's handler: route, run middleware and the handler.

        Pass it to :func:`serve_websocket` (``serve_websocket(app.handle_websocket, ...)``) or
        use :meth:`serve`. Routes at once and returns what to await (no frame of its own per
        connection); cancelling that cancels the handler (then closed with 1001).

        Raises:
            TypeError: the matched route is a plain :class:`~wsframework.routing.Route` that
                was added to :attr:`router` by hand (WebSocket routes are
                :class:`~wsframework.request.WebSocketRoute` objects).
        """
        match = self.router.match(self.route_path(request), "websocket")
        route = match.route
        if route is None:
            body = b"Not Found\n"
            if match.other_kind:
                body = b"Not Found: this path serves plain HTTP, not WebSocket.\n"
            return request.reject(404, body=body)
        if not isinstance(route, WebSocketRoute):
            raise TypeError(
                f"route {route.template!r} is a plain Route: add WebSocket routes with "
                "@app.websocket(...) or as a WebSocketRoute"
            )
        request.app = self
        request.route = route
        request.path_params = match.params
        if (
            route.subprotocol_required
            and route.choose_subprotocol(request.proposed_subprotocols) is None
        ):
            wanted = ", ".join(route.subprotocols)
            text = f"This endpoint requires a subprotocol: one of {wanted}\n"
            return request.reject(400, body=text.encode())
        return self._middleware.chain("websocket", self._call_endpoint)(request)

    def route_path(self, request: BaseRequest) -> str:
        """The path the router matches for ``request``: its :attr:`~BaseRequest.url_path`
        without the mount prefix, which is the request's ``root_path`` (given by an ASGI
        server) or else this app's :attr:`root_path`. A path outside the prefix is routed as
        it is."""
        root = request.root_path or self.root_path
        url_path = request.url_path
        if root and (url_path == root or url_path.startswith(root + "/")):
            return url_path[len(root) :] or "/"
        return url_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point (``hypercorn --worker-class trio module:app``)."""
        await asgi_app(self, scope, receive, send)

    def _call_endpoint(self, request: WebSocketRequest) -> Awaitable[None]:
        route = request.route
        if route is None:
            raise RuntimeError("a middleware cleared request.route: the App has no handler to call")
        if not self._exception_handlers:  # nothing to catch: no frame of ours around it
            endpoint: Handler = route.endpoint
            return endpoint(request)
        return self._call_guarded(route, request)

    async def _call_guarded(self, route: WebSocketRoute, request: WebSocketRequest) -> None:
        try:
            await route.endpoint(request)
        except Exception as exc:
            handler = self._find_exception_handler(exc)
            if handler is None:
                raise
            answer = await handler(request, exc)
            name = getattr(handler, "__qualname__", None) or repr(handler)
            await answer_exception(request, exc, answer, name)

    def _find_exception_handler(self, exc: Exception) -> ExceptionHandler | None:
        for cls in type(exc).__mro__:
            handler = self._exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    async def handle_http(self, request: HTTPRequest) -> Any:
        """The plain HTTP handler of both transports: 404, 405, 426, or the route's answer
        through the middleware that run for plain HTTP (403 if one neither called ``call_next``
        nor rejected).

        Cancelling it cancels the route's handler (the transports call it through
        :func:`~wsframework.http.respond_http`); it needs no timeout of its own beyond the
        route's.
        """
        match = self.router.match(self.route_path(request), "http", method=request.method)
        if match.route is None:
            if match.other_kind:
                return Response(
                    "Upgrade Required: this is a WebSocket endpoint.\n",
                    426,
                    headers=[("upgrade", "websocket"), ("connection", "Upgrade")],
                )
            if match.allowed_methods:
                allow = ", ".join(sorted(match.allowed_methods))
                return Response("Method Not Allowed\n", 405, headers=[("allow", allow)])
            return Response("Not Found\n", 404)
        request.app = self
        request.route = match.route
        request.path_params = match.params
        await self._middleware.chain("http", self._call_http_endpoint)(request)
        if request.response is None:
            logger.info(
                "refused %s %s: a middleware neither called call_next nor rejected it",
                request.method,
                request.path,
            )
            return Response("The request was not answered.\n", 403)
        return request.response

    async def _call_http_endpoint(self, request: HTTPRequest) -> None:
        route = request.route
        if route is None:
            raise RuntimeError("a middleware cleared request.route: the App has no handler to call")
        answer = await route.endpoint(request)
        if request.response is None:  # the handler may have answered with request.reject()
            request.response = to_response(answer)
