"""`chronicon-mlx serve`: an OpenAI-compatible HTTP API over one loaded model.

The flow: `app` receives a request and checks it (`protocol`, `media`), `prepare` turns it
into a generation request (frames sampled or read back from the video cache), `scheduler`
runs it on the model's thread (several at once, batched, on the cpu engine), `textstream`
turns tokens into the answer's text, and `jobs` runs highlights in the background.
"""
