// Security keys (allauth's webauthn.js): a refused or timed-out key is a sentence on the page,
// not a console error. The page has an element marked data-webauthn-error for it.
(function () {
  document.addEventListener('allauth.error', function (event) {
    const box = document.querySelector('[data-webauthn-error]')
    if (!box) return
    event.preventDefault()
    const name = (event.detail && event.detail.exception && event.detail.exception.name) || ''
    box.textContent = name === 'NotAllowedError'
      ? 'The security key did not answer (cancelled, timed out, or not a key of this account). Try again.'
      : name === 'InvalidStateError'
        ? 'This security key is already set up for your account.'
        : 'The browser could not use a security key here. Try again, or use another method.'
    box.hidden = false
  })
})()
