// Locus: a knowledge-editing and interpretability workbench for transformer language models.
//
// The umbrella module re-exports the layers a Swift user works with (models, hooks, tensors,
// storage) and adds what joins them (saving captured activations to HDF5).
@_exported import ArrayStore
@_exported import Datasets
@_exported import ModelFormats
@_exported import ModelStore
@_exported import Notebooks
@_exported import Models
@_exported import Plotting
@_exported import Probing
@_exported import Editing
@_exported import Tensors
@_exported import Tokenization
