from sam3d_codemod.cli.entry import main

main()
