"""The Jupyter adapters: magics, widget panels and server routes over the core."""
