"""The gallery: deliberately broken implementations and the requirements that must catch each.

``python -m bgtasks_conformance.selfcheck`` runs the tests of the requirements declared here against each of
them (``--full``: the whole spec), and the whole spec against the reference, and fails if one escapes
a requirement declared here. Every requirement the reference tests must be declared for at least one.
"""

from bgtasks_conformance.selfcheck import Broken

_CATALOG = "bgtasks_conformance.sample_app.broken.catalog"


def _broken(name: str, catches: str, what: str) -> Broken:
    return Broken(name, f"{_CATALOG}:{name}", frozenset(catches.split()), what)


GALLERY: list[Broken] = [
    _broken("starts_at_add", "POST-005 ORDER-001", "tasks start when added, before the response"),
    _broken("final_chunk_after_tasks", "POST-001 POST-002 POST-003 POST-004 POST-006 POST-007 SEED-001 SEED-002 "
            "SEED-003 SEED-005 SEED-007 SEED-008 SEED-009 DEPS-002 DEPS-003 DEPS-004",
            "the final body chunk is sent only after the tasks"),
    _broken("response_after_tasks", "POST-002 POST-003 POST-004 SEED-010 SEED-011 SEED-012 SEED-013 SEED-014 "
            "SEED-015 DEPS-005 DEPS-006 DEPS-010 LOAD-001", "the whole response waits for the tasks"),
    _broken("reversed_order", "ORDER-001 ORDER-002 ORDER-005 ORDER-006 ORDER-007 SYNC-009",
            "tasks run last-added first"),
    _broken("concurrent", "ORDER-001 ORDER-002", "tasks run all at once"),
    _broken("runs_twice", "ORDER-001 ORDER-003 ORDER-007 LOAD-002", "every task runs twice"),
    _broken("loses_added_while_running", "ORDER-004", "tasks added while running are lost"),
    _broken("drops_kwargs", "ARGS-002 ARGS-003 ARGS-004 ARGS-007 ARGS-010 ARGS-011 ARGS-012",
            "keyword arguments are dropped"),
    _broken("copies_arguments", "ARGS-005 ARGS-006", "arguments are deep-copied"),
    _broken("misdetects_async", "ARGS-009 ARGS-012 ORDER-006 SYNC-004",
            "objects with an async __call__ are run as sync"),
    _broken("sync_on_loop", "SYNC-002 SYNC-003", "sync tasks run on the event loop"),
    _broken("swallows_errors", "ERR-002 ERR-006 ERR-007 WIRE-001 LOAD-003", "task exceptions are swallowed"),
    _broken("continues_after_error", "ERR-005 LOAD-003", "remaining tasks run after one fails"),
    _broken("swallows_app_errors", "ERR-002 ERR-004", "errors after the response started are swallowed"),
    _broken("error_becomes_500", "ERR-001 ERR-003 ERR-008", "a task error turns the response into a 500"),
    _broken("stops_serving_after_error", "ERR-009", "the app stops serving after a task error"),
    _broken("email_loosened", "SEED-006 EMAIL-001 EMAIL-002 EMAIL-003 EMAIL-004 EMAIL-005 EMAIL-006",
            "EmailStr loosened to str"),
    _broken("log_file_message_every_time", "SEED-004", "the log-activity stretch goal prints every time"),
    _broken("reversed_args", "ARGS-001 ARGS-008 ARGS-012", "positional arguments reach the task reversed"),
    _broken("keeps_results", "SYNC-005", "task return values are kept, so a returned coroutine is never awaited"),
    _broken("own_loop", "SYNC-001 SYNC-006", "async tasks run on a separate event loop in a worker thread"),
    _broken("fresh_context", "SYNC-007", "every task runs in a fresh, empty contextvars.Context"),
    _broken("blocking_in_background", "POST-008", "the blocking endpoint's work moved into background tasks"),
    _broken("fresh_tasks_in_endpoint", "DEPS-001", "the endpoint adds to its own BackgroundTasks, not the injected"),
    _broken("empty_background_keeps_tasks", "DEPS-007", "an empty Response background still runs the injected tasks"),
    _broken("http_error_keeps_tasks", "DEPS-008 DEPS-009", "an HTTPException becomes a response that keeps the tasks"),
    _broken("exit_task_runs", "DEPS-011", "the task a yield dependency adds on exit runs where it must be dropped"),
    _broken("stream_resource_closed", "DEPS-012", "the stream finds its yield dependency's resource closed"),
    _broken("dispatch_background_lost", "POST-009", "the background dispatch() sets on call_next's response is lost"),
    # WIRE-001 catches it only when the garbage collector logs the lost task's exception in time: not declared
    _broken("detached_tasks", "SHUT-001 SHUT-002 SHUT-004",
            "tasks run detached from the request (fire and forget): no server waits for them"),
    _broken("quits_when_cancelled", "SHUT-002", "a cancelled task ends the request quietly, the rest never run"),
    _broken("continues_after_cancel", "SHUT-002 SHUT-003", "the next task runs after one is cancelled"),
    _broken("drops_work_when_client_leaves", "DISC-001 DISC-002 DISC-003",
            "a client leaving before the response is complete cancels the tasks, and nothing says so"),
    # issue 21
    _broken("tasks_wait_for_disconnect", "POST-010", "the tasks wait for the client to close its connection"),
    _broken("body_after_pathsend", "POST-015", "middleware adds an empty final body after http.response.pathsend"),
    _broken("stream_skips_tasks_on_asgi_2_4", "POST-011", "under ASGI 2.4 a stream sent whole skips its tasks"),
    _broken("stream_listens_on_asgi_2_4", "POST-014",
            "under ASGI 2.4 a stream still listens for the disconnect: the client leaving raises an ExceptionGroup"),
    _broken("stream_swallows_client_leaving_on_asgi_2_4", "POST-012 POST-014",
            "under ASGI 2.4 a stream whose client left returns as if all was well, its tasks lost silently"),
    _broken("own_response_cancels_app", "POST-013",
            "middleware answering its own response cancels the endpoint's app: its tasks are lost"),
    _broken("group_tasks_elsewhere", "DEPS-013 DEPS-015",
            "a route group's dependencies add to a BackgroundTasks of their own, which nothing runs"),
    _broken("group_tasks_run_at_once", "DEPS-013 DEPS-015",
            "a route group's dependencies do their work before the response instead of adding tasks"),
    _broken("group_tasks_kept", "DEPS-014", "Response(background=...) keeps a route group's injected tasks too"),
    _broken("denial_drops_background", "WS-001 WS-002", "a WebSocket denial response is sent without its tasks"),
    _broken("denial_tasks_before_body", "WS-001 WS-002",
            "a WebSocket denial response's tasks run before the response is sent"),
    _broken("accepted_answers_200", "DEPS-016", "the route declared status_code=202 answers the default 200"),
    _broken("frontend_header_lost", "DEPS-017",
            "the frontend group's dependency sets its header on a Response of its own, never sent"),
    _broken("frontend_post_resolves_dependencies", "DEPS-018",
            "a POST to the frontend group's file resolves its dependencies, their tasks added, before the 405"),
    _broken("drops_debug_message", "POST-016",
            "middleware passes on only the messages it knows: the debug one is lost"),
    _broken("drops_disconnect", "POST-018",
            "middleware drops http.disconnect: a stream or file whose client stopped reading and left never ends"),
    _broken("own_response_leaves_app_waiting", "POST-019",
            "middleware answering its own response never tells the endpoint the response is over: its stream waits"),
]
