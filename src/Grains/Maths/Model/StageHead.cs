namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>What the last stage of a model ends in.</summary>
public enum StageHead
{
    /// <summary>The final norm and the LM head tied to the token embedding: logits (B, T, V), the next token's distribution.</summary>
    Language,

    /// <summary>
    /// The final norm and a (C, 1) projection, <c>score_head</c>: one number per position, (B, T, 1). A reward model reads
    /// it at a completion's last token; a value model at every token. No bias: the pairwise loss sees only differences
    /// of scores, so a bias would get a gradient of rounding noise alone, which AdamW's normalisation turns into full
    /// steps whose sign depends on summation order (the scores are normalised afterwards anyway). Initialised N(0, 0.02)
    /// from the seed and its name, so a model started from a language model's weights gets the same fresh head on every
    /// stage layout.
    /// </summary>
    Score,
}
