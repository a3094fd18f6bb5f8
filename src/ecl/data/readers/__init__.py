"""Dataset readers: one module per source, each `build_*(cfg: DataConfig, problems, saved_split)
→ DataBundle` (registered in `ecl.data.registry.DATASETS`).

- embedded.py: digits-lt, mnist-lt (data shipped inside installed packages);
- cifar.py: cifar10-lt, cifar100-lt; fashion_mnist.py: fashion-mnist-lt (IDX files);
- balanced_pool.py: the LDAM-DRW construction and the validation split from the unused pool;
- split_lists.py: imagenet-lt, inat2018, places-lt; isic.py: isic2019;
- folder.py: a class-folder tree; csv.py: CSV files;
- file_list.py: the one helper of the file-based readers (rows, paths inside data.root, bundles).
"""
