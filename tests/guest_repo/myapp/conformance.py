"""The README's minimal target, as an implementer writes it."""

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from bgtasks_conformance import TargetEnv


def create_app(env: TargetEnv) -> FastAPI:
    app = FastAPI()

    @app.post("/scenario")
    async def scenario(request: Request, background_tasks: BackgroundTasks):
        plan = env.schedule(await request.json(), background_tasks.add_task)
        if plan.response_kind == "stream":
            async def chunks():
                for chunk in plan.chunks:
                    yield chunk
            return StreamingResponse(chunks(), media_type="text/plain")
        if plan.response_kind == "file":
            return FileResponse(plan.file_path, media_type="text/plain")
        return JSONResponse(plan.json_body())

    return app


create_app.conformance_lacks = {
    name: "not in this minimal example"
    for name in ("middleware", "seed-endpoints", "sync-endpoint", "exception-handlers", "dependencies")
}
