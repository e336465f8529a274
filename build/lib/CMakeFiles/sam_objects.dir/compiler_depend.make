# Empty compiler generated dependencies file for sam_objects.
# This may be replaced when dependencies are built.
