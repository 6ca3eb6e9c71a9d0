"""The configuration: what the operator decides, never the agent.

settings.py      ServerSettings: every server setting, one validated model
run_profiles.py  RunProfile: MANYOYO's `runs.<name>`, what a sandbox and its agent are made from
run_files.py     MANYOYO's run profile files, run/<name>.json beside the user file
agents.py        the agent CLIs and their yolo command lines
env_files.py     MANYOYO's env files
layers.py        each source read into layers of values with their origins
project.py       the project file, which may only narrow
loader.py        load_config: the sources merged, lowest first
"""
