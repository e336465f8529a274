# Empty dependencies file for sam_static.
# This may be replaced when dependencies are built.
