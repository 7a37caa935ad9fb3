"""agent: the loop that ties envs, perception, the 3D-LLM planner and policies together, and the CLI."""
