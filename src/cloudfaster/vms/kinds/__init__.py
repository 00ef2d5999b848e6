"""The VM operation kinds: vm.create, vm.resize, vm.power, vm.delete."""
