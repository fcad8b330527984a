using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Inspection;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>
/// The embeddings view of a token embedding table: which rows it projects (the synthetic lexicon's one-token words, else
/// the whole table), each row's category and group, and the nearest-neighbour category purity. The inspector's view and
/// the snapshots a run keeps during training both come from here, so a snapshot and the live view are comparable.
/// </summary>
public sealed class LexiconEmbeddings
{
    /// <summary>The walkthrough's groups: singular and plural animals are one group, as are the two name lists and the two verb lists.</summary>
    public static readonly IReadOnlyDictionary<string, string> Groups = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["animal"] = "animals", ["animals"] = "animals", ["place"] = "places", ["motion verb"] = "verbs", ["object verb"] = "verbs",
        ["emotion"] = "emotions", ["object"] = "objects", ["colour"] = "colours", ["female name"] = "names", ["male name"] = "names",
    };

    private readonly Dictionary<int, LexiconWord> _words = [];
    private readonly ModelVocabulary _vocabulary;

    /// <param name="lexicon">The synthetic corpus's lexicon, when the model was trained on it: tokens get categories.</param>
    public LexiconEmbeddings(ModelVocabulary vocabulary, SyntheticLexicon? lexicon)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        _vocabulary = vocabulary;
        foreach (var word in lexicon?.Words ?? [])
        {
            var ids = vocabulary.EncodeText(" " + word.Word);
            if (ids.Length == 1 && ids[0] != ModelVocabulary.Unknown)
            {
                _words.TryAdd(ids[0], word);
            }
        }
    }

    /// <summary>The lexicon of a run's corpus: the synthetic corpus's, or none for a text file.</summary>
    public static SyntheticLexicon? LexiconOf(string corpus) => corpus == TrainingPreset.SyntheticCorpusName ? SyntheticLexicon.Default : null;

    /// <summary>How many points the view of a table with <paramref name="vocabularySize"/> rows has.</summary>
    public int PointCount(int vocabularySize) => _words.Count >= 2 ? _words.Count : vocabularySize;

    /// <summary>The lexicon word a model ID stands for, if any.</summary>
    public LexiconWord? Word(int modelId) => _words.GetValueOrDefault(modelId);

    /// <summary>PCA of the (V, C) table over the view's rows, each point with its token and category, and the category purity.</summary>
    /// <param name="step">The training step the table is from, carried into the view.</param>
    public EmbeddingView View(Tensor table, long step)
    {
        ArgumentNullException.ThrowIfNull(table);
        var rows = _words.Count >= 2 ? _words.Keys.Order().ToArray() : Enumerable.Range(0, (int)table.shape[0]).ToArray();
        var projection = EmbeddingInspector.Project(table, rows);
        var grouped = _words.Where(e => Groups.ContainsKey(e.Value.Category)).ToDictionary(e => e.Key, e => Groups[e.Value.Category]);
        double? purity = grouped.Values.Distinct().Count() >= 2 ? EmbeddingInspector.CategoryPurity(table, grouped) : null;
        // An array, not a collection expression: runs persist these views (Redis storage writes JSON with type names).
        var points = projection.Points.Select(p =>
        {
            var word = Word(p.ModelId);
            return new EmbeddingPointInfo(p.ModelId, _vocabulary.Describe(p.ModelId), word?.Category ?? "", word is null ? null : Groups.GetValueOrDefault(word.Category), p.X, p.Y);
        }).ToArray();
        return new EmbeddingView(points, projection.ExplainedVariance, purity, step);
    }
}
