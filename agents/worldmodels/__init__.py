"""World Models (Ha & Schmidhuber 2018) on VINGrid: V (``vae``), M (``mdnrnn``), C (``controller``),
the agent (``agent``), the data (``data``) and the staged run (``pipeline``)."""
