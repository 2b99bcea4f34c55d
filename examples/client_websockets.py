import asyncio
import json
import websockets

async def main():
    async with websockets.connect("ws://localhost:8111/api/dersim/ws/telemetry") as ws:
        while True:
            payload = json.loads(await ws.recv())
            print(f"{payload['clock_time']}: {payload['metrics']['power_kw']:.2f} kW")

asyncio.run(main())
