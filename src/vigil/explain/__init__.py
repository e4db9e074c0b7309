"""`vigil policy explain`: what each hook of a policy becomes on this kernel.

Modules: memory (what a loaded object's maps and programs cost, from
/proc/self/fdinfo), model (policies -> explanations: plans compiled, objects
loaded but never attached, selectors read back from the kernel), render
(rich on a terminal, plain text when piped, JSON), cli (the action). Nothing
is imported here: the main CLI loads cli.py on every start.
"""
