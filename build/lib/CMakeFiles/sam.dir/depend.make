# Empty dependencies file for sam.
# This may be replaced when dependencies are built.
