from sam3d_codemod.cli.main import main

main()
