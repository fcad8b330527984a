using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Inspection;

/// <summary>One token's place in the 2D projection of the embedding table.</summary>
public sealed record EmbeddingPoint(int ModelId, float X, float Y);

/// <summary>A neighbour by cosine similarity.</summary>
public sealed record Neighbour(int ModelId, double Cosine);

/// <summary>The projection and how much of the table's variance its two axes keep.</summary>
public sealed record EmbeddingProjection(IReadOnlyList<EmbeddingPoint> Points, double ExplainedVariance);

/// <summary>What the embedding table has learned: a 2D picture (PCA), neighbours, and whether categories cluster.</summary>
public static class EmbeddingInspector
{
    /// <summary>
    /// Principal component analysis of the (V, C) table: centre the rows, take the two right singular vectors with the
    /// largest singular values, and project every row on them. Signs are fixed so the largest coordinate of each axis is
    /// positive, which keeps snapshots taken during training from flipping.
    /// </summary>
    public static EmbeddingProjection Project(Tensor table, IReadOnlyList<int>? rows = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var selected = rows is null ? table.detach().to(ScalarType.Float64) : table.detach().index_select(0, tensor(rows.Select(r => (long)r).ToArray())).to(ScalarType.Float64); // (N, C)
        var centred = selected - selected.mean([0], keepdim: true); // (N, C)
        var (_, singular, vt) = linalg.svd(centred, fullMatrices: false); // S (min(N, C)), Vt (min(N, C), C)
        var axes = vt[..2].T; // (C, 2)
        var projected = centred.matmul(axes); // (N, 2)
        for (var axis = 0; axis < 2; axis++)
        {
            var column = projected[.., axis];
            if (column[column.abs().argmax()].item<double>() < 0)
            {
                projected[.., axis] = -column;
            }
        }

        var variance = singular.square();
        var explained = (variance[..2].sum() / variance.sum()).item<double>();
        var values = projected.to(ScalarType.Float32).data<float>().ToArray();
        var ids = rows ?? Enumerable.Range(0, (int)table.shape[0]).ToArray();
        return new EmbeddingProjection([.. ids.Select((id, i) => new EmbeddingPoint(id, values[2 * i], values[2 * i + 1]))], explained);
    }

    /// <summary>The <paramref name="count"/> rows most similar to row <paramref name="id"/> by cosine, itself excluded.</summary>
    public static IReadOnlyList<Neighbour> NearestNeighbours(Tensor table, int id, int count, IReadOnlyCollection<int>? among = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        if ((uint)id >= (uint)table.shape[0])
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token IDs run from 0 to {table.shape[0] - 1}.");
        }

        var cosines = Cosines(table, id);
        return [.. Enumerable.Range(0, cosines.Length)
            .Where(j => j != id && (among is null || among.Contains(j)))
            .OrderByDescending(j => cosines[j]).ThenBy(j => j)
            .Take(count)
            .Select(j => new Neighbour(j, cosines[j]))];
    }

    /// <summary>
    /// Nearest-neighbour category purity: over the tokens that have a category, the share whose most similar other
    /// categorised token has the same category. 1 means the categories form separate clusters; chance is about the
    /// largest category's share.
    /// </summary>
    public static double CategoryPurity(Tensor table, IReadOnlyDictionary<int, string> categories)
    {
        ArgumentNullException.ThrowIfNull(categories);
        if (categories.Count < 2)
        {
            throw new ArgumentException("Purity needs at least two categorised tokens.", nameof(categories));
        }

        var among = categories.Keys.ToHashSet();
        var agree = categories.Count(entry => categories[NearestNeighbours(table, entry.Key, 1, among)[0].ModelId] == entry.Value);
        return (double)agree / categories.Count;
    }

    private static double[] Cosines(Tensor table, int id)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var rows = nn.functional.normalize(table.detach().to(ScalarType.Float64), p: 2, dim: 1); // (V, C), unit rows
        return rows.matmul(rows[id]).data<double>().ToArray(); // (V)
    }
}
