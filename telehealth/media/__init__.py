"""The media worker: server-side WebRTC peers (aiortc), in their own asyncio process."""
